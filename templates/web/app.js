// benchmon web view: renders the sessions (or one session) from the JSON API and refreshes
// every 5 s. No framework, no build step. Values are put in the DOM as text, never as HTML.
// With tokens configured (body[data-auth=required]) the token is asked for once, kept in this
// tab's sessionStorage and sent as an Authorization header; it never goes into a URL. Bundle
// files open by navigation: listing a bundle's files sets a short-lived cookie scoped to that
// bundle (see the README's "Web view").
"use strict";

const TOKEN_KEY = "benchmon.token";
const REFRESH_MS = 5000;
const authRequired = document.body.dataset.auth === "required";
const sessionId = document.body.dataset.session || null;
let timer = null;

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/// GET a JSON API path with the token, if any.
async function api(path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const resp = await fetch(path, { headers, credentials: "same-origin" });
  if (resp.status === 401) throw new Unauthorized();
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const detail = body && body.detail ? body.detail : resp.statusText;
    throw new Error(`${path}: ${resp.status} ${detail}`);
  }
  return body;
}

/// An element with attributes and children (strings become text nodes).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return e;
}

function badge(word, kind) {
  return el("span", { class: `badge ${kind || word || "none"}` }, word || "—");
}

const enc = encodeURIComponent;

/// Seconds of a SLURM time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS), or null.
function limitSeconds(limit) {
  if (!limit || limit === "UNLIMITED" || limit === "INFINITE") return null;
  let days = 0;
  let clock = limit;
  if (limit.includes("-")) {
    const [d, c] = limit.split("-");
    days = Number(d);
    const p = c.split(":").map(Number);
    const [h, m, s] = [p[0] || 0, p[1] || 0, p[2] || 0];
    return ((days * 24 + h) * 60 + m) * 60 + s;
  }
  const p = clock.split(":").map(Number);
  if (p.length === 1) return p[0] * 60;
  if (p.length === 2) return p[0] * 60 + p[1];
  return (p[0] * 60 + p[1]) * 60 + p[2];
}

function duration(secs) {
  if (secs <= 0) return "0 s";
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = Math.floor(secs % 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

/// Time left of the session's job: its time limit from when the scheduler started it.
function timeLeft(s) {
  const live = ["pending", "starting", "running", "degraded", "stopping"];
  if (!live.includes(s.state)) return "—";
  const limit = limitSeconds(s.resources && s.resources.time_limit);
  if (limit === null) return s.resources && s.resources.time_limit ? "unlimited" : "—";
  const since = s.job_running_at || s.running_at;
  if (!since) return `${duration(limit)} (not started)`;
  return duration(limit - (Date.now() - Date.parse(since)) / 1000);
}

function collectionName(c) {
  return c.bundle_dir.split("/").filter(Boolean).pop();
}

function targetLabel(t) {
  if (t.kind === "service") return t.service || t.address;
  return `${t.client_id || "?"}/${t.exporter || "?"}`;
}

function targetsCell(list) {
  if (!list || !list.targets.length) return el("span", { class: "note" }, "none");
  return el(
    "ul",
    { class: "targets" },
    list.targets.map((t) => {
      const health = t.health ? t.health.health : null;
      return el(
        "li",
        { "data-target": targetLabel(t), title: t.health && t.health.last_error ? t.health.last_error : t.address },
        targetLabel(t),
        " ",
        badge(health || "n/a", health || "none"),
      );
    }),
  );
}

function windowsCell(windows) {
  if (!windows || !windows.length) return el("span", { class: "note" }, "none");
  return el(
    "ul",
    { class: "windows" },
    windows.map((w) => el("li", { "data-window": w.name }, w.name, w.open ? " (open)" : "")),
  );
}

function verdict(c) {
  return c.manifest && c.manifest.quality ? c.manifest.quality : "missing";
}

function collectionsCell(id, collections) {
  if (!collections || !collections.length) return el("span", { class: "note" }, "none");
  return el(
    "ul",
    { class: "collections" },
    collections.map((c) => {
      const name = collectionName(c);
      return el(
        "li",
        { "data-collection": name },
        el("a", { href: `/sessions/${enc(id)}#${enc(name)}` }, name),
        " ",
        badge(verdict(c)),
      );
    }),
  );
}

/// The per-session facts both views show, fetched in parallel.
async function details(s) {
  const id = enc(s.session_id);
  const [targets, windows, collections] = await Promise.all([
    api(`/api/v1/sessions/${id}/targets`),
    api(`/api/v1/sessions/${id}/windows`),
    api(`/api/v1/sessions/${id}/collections`),
  ]);
  return { targets, windows, collections };
}

async function renderList() {
  const sessions = await api("/api/v1/sessions");
  const rows = await Promise.all(
    sessions.map(async (s) => {
      const d = await details(s);
      return el(
        "tr",
        { "data-session": s.session_id, "data-state": s.state },
        el("td", {}, el("a", { href: `/sessions/${enc(s.session_id)}` }, s.session_id)),
        el("td", {}, badge(s.state)),
        el("td", { class: "job" }, s.slurm_job_id || (s.job_id ? `pid ${s.job_id}` : "—")),
        el("td", { class: "node" }, s.node || "—"),
        el("td", { class: "left" }, timeLeft(s)),
        el("td", {}, targetsCell(d.targets)),
        el("td", {}, windowsCell(d.windows)),
        el("td", {}, collectionsCell(s.session_id, d.collections)),
      );
    }),
  );
  const head = ["session", "state", "SLURM job", "node", "time left", "targets", "windows", "collections"];
  const table = el(
    "table",
    { id: "sessions" },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
  const content = sessions.length ? table : el("p", { class: "note" }, "No sessions yet.");
  document.getElementById("content").replaceChildren(content);
}

/// Bundle file lists by collection name; fetched again when the collections change.
const fileLists = new Map();

async function filesOf(id, name) {
  if (!fileLists.has(name)) {
    fileLists.set(name, await api(`/api/v1/sessions/${enc(id)}/collections/${enc(name)}/files`));
  }
  return fileLists.get(name);
}

/// Opens a bundle file by navigation; with tokens, the listing is fetched first so the
/// bundle's cookie is fresh (it lives 15 minutes).
async function openFile(event) {
  const a = event.currentTarget;
  if (!authRequired) return;
  event.preventDefault();
  try {
    await api(`/api/v1/sessions/${enc(a.dataset.sessionId)}/collections/${enc(a.dataset.collection)}/files`);
    const w = window.open(a.href, "_blank");
    if (w) w.opener = null;
    else location.assign(a.href);
  } catch (e) {
    failed(e);
  }
}

async function renderSession(id) {
  const s = await api(`/api/v1/sessions/${enc(id)}`);
  const d = await details(s);
  const facts = [
    ["state", badge(s.state)],
    ["SLURM job", s.slurm_job_id || "—"],
    ["scheduler", [s.scheduler_state, s.scheduler_reason].filter(Boolean).join(" / ") || "—"],
    ["node", s.node || "—"],
    ["time left", timeLeft(s)],
    ["Prometheus", s.prometheus_url || "—"],
    ["created", s.created_at],
  ];
  if (s.failure_reason) facts.push(["failure", s.failure_reason]);
  const dl = el("dl", { id: "facts", "data-state": s.state }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));

  const bundles = await Promise.all(
    (d.collections || []).map(async (c) => {
      const name = collectionName(c);
      const files = await filesOf(id, name);
      const samples = c.samples === undefined ? "" : ` · ${c.samples} samples`;
      return el(
        "section",
        { class: "bundle", id: name, "data-collection": name },
        el("h3", {}, name, " ", badge(verdict(c))),
        el("p", { class: "note" }, `window ${c.window_start} → ${c.window_end}${samples}`),
        el(
          "ul",
          { class: "files" },
          files.map((f) => {
            const href = `/api/v1/sessions/${enc(id)}/collections/${enc(name)}/files/${enc(f.name)}`;
            const a = el("a", { href, target: "_blank", rel: "noopener", "data-file": f.name }, f.name);
            a.dataset.sessionId = id;
            a.dataset.collection = name;
            a.addEventListener("click", openFile);
            return el("li", {}, a, el("span", { class: "note" }, ` ${f.bytes} bytes · ${f.content_type}`));
          }),
        ),
      );
    }),
  );
  const parts = [
    dl,
    el("h2", {}, "Targets"),
    targetsCell(d.targets),
    d.targets && d.targets.health_note ? el("p", { class: "note" }, d.targets.health_note) : null,
    el("h2", {}, "Windows"),
    windowsCell(d.windows),
    el("h2", {}, "Collections"),
    bundles.length ? bundles : el("p", { class: "note" }, "No collections yet."),
  ];
  // replaceChildren takes nodes, not arrays or nulls.
  document.getElementById("content").replaceChildren(...parts.flat().filter((p) => p));
}

function showLogin(message) {
  clearTimeout(timer);
  document.getElementById("content").replaceChildren();
  document.getElementById("status").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("logout").hidden = true;
  const err = document.getElementById("login-error");
  err.hidden = !message;
  err.textContent = message || "";
}

function failed(e) {
  if (e instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("That token was not accepted.");
    return;
  }
  const status = document.getElementById("status");
  status.hidden = false;
  status.className = "error";
  status.textContent = String(e.message || e);
}

async function refresh() {
  clearTimeout(timer);
  try {
    if (sessionId) await renderSession(sessionId);
    else await renderList();
    const status = document.getElementById("status");
    status.hidden = false;
    status.className = "note";
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    failed(e);
    if (e instanceof Unauthorized) return;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function start() {
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    document.getElementById("login").hidden = true;
    document.getElementById("logout").hidden = false;
    refresh();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(null);
  });
  if (authRequired && !token()) {
    showLogin(null);
    return;
  }
  document.getElementById("logout").hidden = !authRequired;
  refresh();
}

start();

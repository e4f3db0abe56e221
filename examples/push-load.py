#!/usr/bin/env python3
"""A short real load whose client-side numbers are pushed into a session and collected.

The "load generator" times HTTP GETs of the benchmon server's own /health for LOAD_SECONDS and
keeps what every client library keeps: a request counter by status and a latency histogram
(cumulative `_bucket{le=…}` counts). Every SNAPSHOT_MS it takes a snapshot of both, timestamped
on that grid; at the end it pushes all snapshots in one request (Prometheus text format with
timestamps: `POST /api/v1/sessions/{id}/metrics?client_id=loadgen`). A phase event opens the
window `load` at the first snapshot and another closes it at the last, so the window spans the
load exactly. Then it collects the window and prints p50/p95/p99 and the request rate from the
bundle's KPIs next to the same figures computed here from the pushed buckets; they must be
equal (exit 1 otherwise).

    BENCHMON_URL=http://127.0.0.1:8002 python3 examples/push-load.py

Standard library only. Environment: BENCHMON_URL (http://127.0.0.1:8002), BENCHMON_TOKEN,
RUN_ID (push-load-<pid>), PARTITION (the site default), LOAD_SECONDS (5), SNAPSHOT_MS (500).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

SERVER = os.environ.get("BENCHMON_URL", "http://127.0.0.1:8002").rstrip("/")
API = SERVER + "/api/v1"
RUN_ID = os.environ.get("RUN_ID", f"push-load-{os.getpid()}")
PARTITION = os.environ.get("PARTITION")
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "5"))
SNAPSHOT_MS = int(os.environ.get("SNAPSHOT_MS", "500"))
TOKEN = os.environ.get("BENCHMON_TOKEN")
# Upper bounds (seconds) of the latency buckets; +Inf is added.
BOUNDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5]


def call(method, path, body=None, content_type="application/json"):
    """One API call; a problem+json answer raises with its detail."""
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if TOKEN:
        req.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        problem = e.read().decode(errors="replace")
        sys.exit(f"{method} {path}: {e.code} {problem}")


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def now_ms():
    return int(time.time() * 1000)


def run_load(start_ms):
    """Times GET /health until LOAD_SECONDS have passed; returns the snapshots as
    `(timestamp_ms, {status: count}, [cumulative bucket counts, +Inf last])`."""
    counts = {}
    buckets = [0] * (len(BOUNDS) + 1)
    snapshots = []
    next_snap = start_ms
    end_ms = start_ms + int(LOAD_SECONDS * 1000)
    while next_snap <= end_ms:
        if now_ms() >= next_snap:
            # Everything completed so far belongs to this grid point.
            snapshots.append((next_snap, dict(counts), list(buckets)))
            next_snap += SNAPSHOT_MS
            continue
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(SERVER + "/health", timeout=10) as r:
                r.read()
                status = str(r.status)
        except urllib.error.HTTPError as e:
            status = str(e.code)
        except OSError:
            status = "error"
        seconds = time.perf_counter() - t
        counts[status] = counts.get(status, 0) + 1
        for i, bound in enumerate(BOUNDS + [float("inf")]):
            if seconds <= bound:
                buckets[i] += 1
    return snapshots


def exposition(snapshots):
    lines = ["# TYPE loadgen_requests_total counter", "# TYPE loadgen_request_duration_seconds histogram"]
    statuses = sorted({s for _, counts, _ in snapshots for s in counts})
    for ts, counts, buckets in snapshots:
        for s in statuses:
            lines.append(f'loadgen_requests_total{{status="{s}"}} {counts.get(s, 0)} {ts}')
        for bound, n in zip([repr(b) for b in BOUNDS] + ["+Inf"], buckets):
            lines.append(f'loadgen_request_duration_seconds_bucket{{le="{bound}"}} {n} {ts}')
    return "\n".join(lines) + "\n"


def quantile(q, buckets):
    """Prometheus's histogram_quantile over cumulative (bound, count) pairs."""
    total = buckets[-1][1]
    rank = q * total
    i = next(i for i, b in enumerate(buckets) if b[1] >= rank)
    if i == len(buckets) - 1:
        return buckets[-2][0]
    if i == 0:
        start, count = 0.0, buckets[0][1]
    else:
        rank -= buckets[i - 1][1]
        start, count = buckets[i - 1][0], buckets[i][1] - buckets[i - 1][1]
    return start + (buckets[i][0] - start) * (rank / count)


def main():
    create = {"run_id": RUN_ID, "scrape_interval": "1s", "labels": {"example": "push-load"}}
    call("POST", "/sessions", create)
    start = {"time_limit": "00:20:00"}
    if PARTITION:
        start["partition"] = PARTITION
    call("POST", f"/sessions/{RUN_ID}/start", start)
    try:
        call("GET", f"/sessions/{RUN_ID}/status?wait=running&timeout=300s")
        print(f"session {RUN_ID} running")

        start_ms = (now_ms() // 1000 + 1) * 1000
        while now_ms() < start_ms:
            time.sleep(0.01)
        opened = {"kind": "phase", "name": "load", "window": "start", "timestamp": rfc3339(start_ms)}
        call("POST", f"/sessions/{RUN_ID}/events", opened)
        snapshots = run_load(start_ms)
        end_ms = snapshots[-1][0]
        closed = {"kind": "phase", "name": "load", "window": "end", "timestamp": rfc3339(end_ms)}
        call("POST", f"/sessions/{RUN_ID}/events", closed)
        pushed = call(
            "POST",
            f"/sessions/{RUN_ID}/metrics?client_id=loadgen",
            exposition(snapshots),
            content_type="text/plain",
        )
        requests = sum(snapshots[-1][1].values())
        print(f"load: {requests} requests to /health in {(end_ms - start_ms) / 1000} s; pushed {pushed}")

        collect = {
            "window": "load",
            "step": f"{SNAPSHOT_MS}ms",
            "run_id": "push-load",
            "queries": {
                "requests": 'loadgen_requests_total{source="push"}',
                "latency": 'loadgen_request_duration_seconds_bucket{source="push"}',
            },
        }
        out = call("POST", f"/sessions/{RUN_ID}/collect", collect)
        kpis = {q["name"]: q["aggregate"][0] for q in out["queries"] if q["aggregate"]}

        # The same figures from the pushed data: the buckets' increase over the window (the
        # first snapshot is all zeros) and the requests' increase over its length.
        last = snapshots[-1][2]
        expected = {
            f"p{int(q * 100)}": quantile(q, list(zip(BOUNDS + [float("inf")], [float(n) for n in last])))
            for q in (0.5, 0.95, 0.99)
        }
        expected["rate_per_second"] = float(requests) / ((end_ms - start_ms) / 1000)
        got = {k: kpis["latency"][k] for k in ("p50", "p95", "p99")}
        got["rate_per_second"] = kpis["requests"]["rate_per_second"]
        for k in expected:
            print(f"{k:>16}: bundle {got[k]!r}, pushed data {expected[k]!r}")
        print(f"report: {out['report']}")
        if got != expected:
            sys.exit("the bundle's KPIs differ from the pushed data")
        print("the bundle's KPIs equal the pushed data")
    finally:
        call("POST", f"/sessions/{RUN_ID}/stop", {})


if __name__ == "__main__":
    main()

"""A Python client for benchmon, for benchmark harnesses. Standard library only.

    from benchmon_client import Client

    client = Client()                        # BENCHMON_URL, BENCHMON_TOKEN from the environment
    with client.session("llama-70b-run-7", labels={"model": "llama-70b"}) as s:   # stops on exit
        s.register_client("n1", node="gpu-n1", exporters={"node": "gpu-n1:9100", "dcgm": "gpu-n1:9400"})
        s.register_service("vllm", "http://gpu-n1:8000/metrics")
        with s.window("steady"):             # opens, and closes even when the benchmark fails
            run_benchmark()
            s.event("progress", "load", progress=50)
            s.push("client_requests_total{status=\"200\"} 1027\n", client_id="loadgen")
        result = s.collect(window="steady")
        print(result.quality, result.report)

Import it by path (``sys.path.insert(0, "…/examples/python")``) or install the directory
(``pip install ./examples/python``).

Every refusal raises a ``BenchmonError`` built from the server's RFC 9457 problem+json (``status``,
``title``, ``detail``, ``field``); subclasses by status: ``ValidationError`` (422),
``NotFound`` (404), ``Conflict`` (409), ``Unauthorized`` (401/403), ``ServerError`` (5xx);
``ServerUnreachable`` when nothing answers. Retries follow benchmon's own CLI: connection
failures always (the server never saw the request), 5xx only for idempotent methods (GET, PUT,
DELETE) and 503 for POST, which says the request was not processed; with doubling delays.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Union

__all__ = [
    "Client", "Session", "Collection", "BenchmonError", "ValidationError", "NotFound",
    "Conflict", "Unauthorized", "ServerError", "ServerUnreachable",
]

DEFAULT_URL = "http://127.0.0.1:8002"
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}


class BenchmonError(Exception):
    """A request benchmon refused or failed: the problem+json it answered with."""

    def __init__(self, status: int, problem: Dict[str, Any], method: str, url: str):
        self.status = status
        self.problem = problem
        self.title = problem.get("title", "")
        self.detail = problem.get("detail", "")
        self.field = problem.get("field")
        self.type = problem.get("type")
        self.method, self.url = method, url
        where = f" (field: {self.field})" if self.field else ""
        super().__init__(f"{method} {url} -> {status} {self.title}: {self.detail}{where}")


class ValidationError(BenchmonError):
    """422: a field of the request is invalid; ``field`` names it."""


class NotFound(BenchmonError):
    """404: no such session, target or window."""


class Conflict(BenchmonError):
    """409: the session is not in a state that allows this."""


class Unauthorized(BenchmonError):
    """401/403: no token, or a token without the right."""


class ServerError(BenchmonError):
    """5xx: benchmon, the scheduler or Prometheus failed."""


class ServerUnreachable(BenchmonError):
    """Nothing answered at the server URL (is ``benchmon serve`` running?)."""

    def __init__(self, method: str, url: str, reason: str):
        super().__init__(0, {"title": "server unreachable",
                             "detail": f"{reason}; is `benchmon serve` running there?"}, method, url)


def _error_for(status: int) -> type:
    if status == 422:
        return ValidationError
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status in (401, 403):
        return Unauthorized
    if status >= 500:
        return ServerError
    return BenchmonError


class Client:
    """A benchmon server. ``url`` and ``token`` default to BENCHMON_URL and BENCHMON_TOKEN."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None,
                 retries: int = 5, timeout: float = 60.0):
        self.url = (url or os.environ.get("BENCHMON_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("BENCHMON_TOKEN")
        self.retries = retries
        self.timeout = timeout

    # -- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None,
                params: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
                text: Optional[str] = None) -> Any:
        """Sends one API request (``path`` under ``/api/v1``) with a JSON ``body`` or a
        ``text`` body (text/plain); the decoded JSON answer."""
        url = f"{self.url}/api/v1{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        if text is not None:
            data: Optional[bytes] = text.encode()
            headers["Content-Type"] = "text/plain; version=0.0.4"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        else:
            data = None
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = 0.2
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    text = resp.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as e:
                text = e.read()
                retry = e.code >= 500 and (method in _IDEMPOTENT or e.code == 503)
                if retry and not last:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                try:
                    problem = json.loads(text)
                except ValueError:
                    problem = {"title": e.reason, "detail": text.decode(errors="replace")}
                raise _error_for(e.code)(e.code, problem, method, url) from None
            except urllib.error.URLError as e:
                # Refused before anything was sent: safe to repeat whatever the method.
                refused = isinstance(e.reason, ConnectionRefusedError)
                if (refused or method in _IDEMPOTENT) and not last:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise ServerUnreachable(method, url, str(e.reason)) from None
        raise AssertionError("unreachable")

    # -- sessions -----------------------------------------------------------------------------

    def create_session(self, run_id: str, **options: Any) -> "Session":
        """Creates a session (``labels``, ``scrape_interval``, ``prometheus_port``, …)."""
        view = self.request("POST", "/sessions", {"run_id": run_id, **options})
        return Session(self, view)

    def get_session(self, run_id: str) -> "Session":
        return Session(self, self.request("GET", f"/sessions/{_q(run_id)}"))

    @contextlib.contextmanager
    def session(self, run_id: str, start: bool = True, wait_timeout: str = "180s",
                slurm: Optional[Dict[str, Any]] = None, **options: Any) -> Iterator["Session"]:
        """Creates a session and (by default) starts it and waits until Prometheus runs; stops
        it on leaving the block, whatever happened inside."""
        s = self.create_session(run_id, **options)
        try:
            if start:
                s.start(wait=True, timeout=wait_timeout, **(slurm or {}))
            yield s
        finally:
            with contextlib.suppress(BenchmonError):
                s.stop()


@dataclass
class Collection:
    """What a collection wrote: the bundle, its report, its verdict."""

    bundle_dir: str
    report: Optional[str]
    artifacts: List[str]
    samples: int
    quality: Optional[str]
    """``ok``, ``partial`` or ``empty`` (servers with verdicts; else None)."""
    reasons: List[Any]
    manifest: Dict[str, Any] = field(repr=False)
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_answer(cls, a: Dict[str, Any]) -> "Collection":
        quality = a.get("quality")
        if isinstance(quality, dict):  # {"quality": "...", "reasons": [...]} form
            reasons, quality = quality.get("reasons", []), quality.get("quality")
        else:
            reasons = a.get("quality_reasons") or a.get("reasons") or []
        return cls(bundle_dir=a.get("bundle_dir", ""), report=a.get("report"),
                   artifacts=a.get("artifacts", []), samples=a.get("samples", 0),
                   quality=quality, reasons=reasons, manifest=a.get("manifest", {}), raw=a)


class Session:
    """One monitoring session; ``view`` is the server's last answer about it."""

    def __init__(self, client: Client, view: Dict[str, Any]):
        self.client = client
        self.view = view
        self.id = view["session_id"]

    def __repr__(self) -> str:
        return f"Session({self.id!r}, state={self.state!r})"

    @property
    def state(self) -> str:
        return self.view.get("state", "")

    @property
    def prometheus_url(self) -> Optional[str]:
        return self.view.get("prometheus_url")

    def _path(self, rest: str = "") -> str:
        return f"/sessions/{_q(self.id)}{rest}"

    def refresh(self) -> "Session":
        self.view = self.client.request("GET", self._path())
        return self

    def start(self, wait: bool = True, timeout: str = "180s", **slurm: Any) -> "Session":
        """Submits the Prometheus job (``partition``, ``time_limit``, …); with ``wait``, returns
        once it runs (or raises: the job failed, or ``timeout`` passed)."""
        self.view = self.client.request("POST", self._path("/start"), slurm or {})
        if wait:
            self.wait_for("running", timeout)
        return self

    def wait_for(self, state: str, timeout: str = "180s") -> "Session":
        seconds = _seconds(timeout)
        self.view = self.client.request("GET", self._path(), params={"wait": state, "timeout": timeout},
                                        timeout=seconds + 30)
        return self

    def stop(self) -> "Session":
        self.view = self.client.request("POST", self._path("/stop"))
        return self

    def delete(self) -> None:
        self.client.request("DELETE", self._path())

    def register_client(self, client_id: str, node: str, exporters: Dict[str, str],
                        labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """A node and its exporters (``{"node": "host:9100", "dcgm": "host:9400"}``)."""
        body: Dict[str, Any] = {"client_id": client_id, "node": node, "exporters": exporters}
        if labels:
            body["labels"] = labels
        return self.client.request("POST", self._path("/clients"), body)

    def register_service(self, name: str, endpoint: str, client_id: Optional[str] = None,
                         labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """Any ``/metrics`` URL, e.g. a vLLM server."""
        body: Dict[str, Any] = {"name": name, "endpoint": endpoint}
        if client_id:
            body["client_id"] = client_id
        if labels:
            body["labels"] = labels
        return self.client.request("POST", self._path("/services"), body)

    def targets(self) -> Dict[str, Any]:
        return self.client.request("GET", self._path("/targets"))

    def open_window(self, name: str) -> Dict[str, Any]:
        return self.client.request("POST", self._path("/windows"), {"name": name})

    def close_window(self, name: str) -> Dict[str, Any]:
        return self.client.request("POST", self._path(f"/windows/{_q(name)}/close"))

    def wait_scraped(self, timeout: float = 60.0) -> bool:
        """Waits (at most ``timeout`` seconds) until Prometheus has scraped every enabled target
        once (up or down, not ``unknown``), so a window opened next has no leading gap; whether
        it did. A session that is not running has nothing to wait for."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.targets()
            if listed.get("health_note") and "not running" in listed["health_note"]:
                return False
            pending = [t for t in listed.get("targets", []) if t.get("enabled", True)
                       and (t.get("health") or {}).get("health", "unknown") == "unknown"]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    @contextlib.contextmanager
    def window(self, name: str, wait_scraped: float = 60.0) -> Iterator[Dict[str, Any]]:
        """A named window around the block: opened once every target has been scraped (waiting
        at most ``wait_scraped`` seconds, 0 not at all; a warning if they were not), closed
        when the block ends, whatever happens in it."""
        if wait_scraped and self.state == "running" and not self.wait_scraped(wait_scraped):
            warnings.warn(f"session {self.id}: not every target was scraped within "
                          f"{wait_scraped:g} s; the window {name!r} may start with a gap")
        opened = self.open_window(name)
        try:
            yield opened
        finally:
            self.close_window(name)

    def push(self, metrics: Union[str, List[Dict[str, Any]]],
             client_id: Optional[str] = None) -> Dict[str, Any]:
        """Pushes samples into the running session: the Prometheus text exposition format (a
        ``str``, what client libraries write; timestamps in ms optional) or a list of
        ``{"name", "labels"?, "value", "timestamp"? (ms), "type"?}``. Stored whole or not at
        all; a bad line raises ``ValidationError`` whose ``field`` names it (``line 2``,
        ``metrics[1].value``). Returns ``{"samples", "series"}``."""
        params = {"client_id": client_id} if client_id else None
        path = self._path("/metrics")
        if isinstance(metrics, str):
            return self.client.request("POST", path, params=params, text=metrics)
        return self.client.request("POST", path, {"metrics": list(metrics)}, params=params)

    def event(self, kind: str, name: str, message: Optional[str] = None,
              severity: Optional[str] = None, progress: Optional[float] = None,
              timestamp: Union[None, float, str, datetime.datetime] = None) -> Dict[str, Any]:
        """Records an event: ``kind`` is ``phase``, ``progress``, ``note`` or ``alert``;
        ``severity`` ``info``/``warning``/``critical``; ``progress`` a percentage;
        ``timestamp`` (default now) unix seconds, RFC 3339 text or an aware ``datetime``."""
        body: Dict[str, Any] = {"kind": kind, "name": name}
        if isinstance(timestamp, datetime.datetime):
            if timestamp.tzinfo is None:
                raise ValueError("timestamp must be timezone-aware (a naive datetime is ambiguous)")
            timestamp = timestamp.isoformat()
        for key, value in (("message", message), ("severity", severity),
                           ("progress", progress), ("timestamp", timestamp)):
            if value is not None:
                body[key] = value
        return self.client.request("POST", self._path("/events"), body)

    def events(self) -> List[Dict[str, Any]]:
        """The session's events, in time order."""
        return self.client.request("GET", self._path("/events"))

    def collect(self, **request: Any) -> Collection:
        """Collects into a bundle: ``window="steady"``, ``last="10m"``, or ``start``/``end``;
        ``run_id``, ``out_dir``, ``queries``, ``formats``, …, as the API takes them."""
        return Collection.from_answer(self.client.request("POST", self._path("/collect"), request,
                                                          timeout=max(self.client.timeout, 600)))


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"{duration!r} is not a duration like 90s, 5m or 1h")

"""Checks benchmon_client's Session.push / event / events against a running server (BENCHMON_URL)
and a real SLURM session: pushed samples are read back from the session's own Prometheus, a bad
push raises ValidationError naming the line and stores nothing, events are listed in order.
Run by tests/cli/python_client.rs. Exits non-zero, naming the check, on failure."""
import datetime
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../examples/python"))
import benchmon_client as bc  # noqa: E402

client = bc.Client()
run_id = os.environ["RUN_ID"]


def query(prom: str, promql: str) -> list:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]["result"]


def until_present(prom: str, promql: str, want: int, limit: float = 30.0) -> list:
    deadline = time.monotonic() + limit
    while True:
        found = query(prom, promql)
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


with client.session(run_id, scrape_interval="1s") as s:
    prom = s.prometheus_url
    assert s.state == "running" and prom, s.view

    # Text exposition, as client libraries write it.
    text = ('py_harness_requests_total{status="200"} 1027\n'
            'py_harness_requests_total{status="500"} 3\n')
    assert s.push(text, client_id="py-loadgen") == {"samples": 2, "series": 2}
    # The JSON form, with a timestamp (ms).
    now_ms = int(time.time() * 1000)
    sample = {"name": "py_harness_latency_seconds", "labels": {"op": "read"}, "value": 0.25,
              "timestamp": now_ms, "type": "gauge"}
    assert s.push([sample])["samples"] == 1

    sel = f'{{session="{run_id}",source="push"}}'
    got = until_present(prom, f"py_harness_requests_total{sel}", 2)
    values = {r["metric"]["status"]: float(r["value"][1]) for r in got}
    assert values == {"200": 1027.0, "500": 3.0}, got
    assert all(r["metric"].get("client_id") == "py-loadgen" for r in got), got
    got = until_present(prom, f"py_harness_latency_seconds{sel}", 1)
    assert [float(r["value"][1]) for r in got] == [0.25], got
    assert "client_id" not in got[0]["metric"], got

    # A bad line: ValidationError naming it, and nothing of that request stored.
    try:
        s.push('py_harness_atomic_total 1\npy_harness_atomic_total{session="x"} 2\n')
        sys.exit("a push with a reserved label did not raise")
    except bc.ValidationError as e:
        assert e.status == 422 and e.field == "line 2", e
        assert "session" in e.detail, e
    try:
        s.push([{"name": "py_harness_atomic_total", "value": 1},
                {"name": "9starts_with_a_digit", "value": 2}])
        sys.exit("a JSON push with a bad name did not raise")
    except bc.ValidationError as e:
        assert e.field is not None and e.field.startswith("metrics[1]"), e
    time.sleep(2)
    assert query(prom, f"py_harness_atomic_total{sel}") == [], "a refused push was stored"

    # Events: recorded, listed in time order, a bad one refused with its field.
    first = s.event("phase", "warmup", message="load ramps up")
    assert (first["kind"], first["name"], first["message"]) == ("phase", "warmup", "load ramps up")
    s.event("progress", "load", progress=40,
            timestamp=datetime.datetime.now(datetime.timezone.utc))
    s.event("alert", "latency", severity="warning", message="p99 over 2 s")
    listed = s.events()
    assert [(e["kind"], e["name"]) for e in listed] == [
        ("phase", "warmup"), ("progress", "load"), ("alert", "latency")], listed
    assert listed[1]["progress"] == 40 and listed[2]["severity"] == "warning", listed
    try:
        s.event("progress", "load", progress=140)
        sys.exit("an event with progress 140 did not raise")
    except bc.ValidationError as e:
        assert e.field == "progress", e
    try:
        s.event("note", "x", timestamp=datetime.datetime(2025, 1, 1))
        sys.exit("a naive datetime did not raise")
    except ValueError:
        pass
    assert len(s.events()) == 3

# Stopped on the way out: a push now is a Conflict.
try:
    s.push("py_harness_requests_total 1\n")
    sys.exit("a push into a stopped session did not raise")
except bc.Conflict as e:
    assert e.status == 409, e
print("push and event checks passed")

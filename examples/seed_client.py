#!/usr/bin/env python3
"""The Python client example from the service's documentation, runnable against benchmon.

Same calls as the documentation (requests: create, start, register a vLLM service, collect
the last hour, stop), with what a real run needs on top: the base URL and a few values from
the environment, a wait until the session runs, and errors raised (with the problem detail)
instead of ignored.

    pip install requests
    BENCHMON_URL=http://localhost:8002 python3 examples/seed_client.py

Environment: BENCHMON_URL (http://localhost:8002), RUN_ID (my-benchmark), PROM_PORT (9090),
PARTITION (cpu), VLLM_ENDPOINT (http://mel2153:8000/metrics), OUT_DIR (logs/metrics; resolved
under the server's artifacts root), BENCHMON_TOKEN (bearer token, if the server wants one).
"""

import os
import sys
from datetime import datetime, timedelta, timezone

try:
    import requests
except ImportError:
    sys.exit("this example needs requests: pip install requests")

BASE_URL = os.environ.get("BENCHMON_URL", "http://localhost:8002").rstrip("/") + "/api/v1"
RUN_ID = os.environ.get("RUN_ID", "my-benchmark")
PROM_PORT = int(os.environ.get("PROM_PORT", "9090"))
PARTITION = os.environ.get("PARTITION", "cpu")
VLLM_ENDPOINT = os.environ.get("VLLM_ENDPOINT", "http://mel2153:8000/metrics")
OUT_DIR = os.environ.get("OUT_DIR", "logs/metrics")

http = requests.Session()
if os.environ.get("BENCHMON_TOKEN"):
    http.headers["Authorization"] = f"Bearer {os.environ['BENCHMON_TOKEN']}"


def checked(response):
    """Raises with the problem+json detail when the server refused the request."""
    if not response.ok:
        try:
            p = response.json()
            message = f"{p.get('title')}: {p.get('detail')}"
            if p.get("field"):
                message += f" (field: {p['field']})"
        except ValueError:
            message = response.text
        raise SystemExit(f"{response.request.method} {response.url} -> {response.status_code} {message}")
    return response


# Create session
response = checked(http.post(
    f"{BASE_URL}/sessions",
    json={
        "run_id": RUN_ID,
        "prometheus_port": PROM_PORT,
        "prom_host": "localhost"
    }
))
session = response.json()
session_id = session["session_id"]

try:
    # Start session
    checked(http.post(
        f"{BASE_URL}/sessions/{session_id}/start",
        json={"partition": PARTITION, "time_limit": "01:00:00"}
    ))

    # Wait until Prometheus runs (long poll)
    session = checked(http.get(
        f"{BASE_URL}/sessions/{session_id}",
        params={"wait": "running", "timeout": "120s"},
        timeout=150,
    )).json()
    print(f"Prometheus at {session['prometheus_url']} (SLURM job {session['slurm_job_id']})")

    # Register a vLLM service
    checked(http.post(
        f"{BASE_URL}/services",
        json={
            "session_id": session_id,
            "client_id": "client-01",
            "name": "vllm",
            "endpoint": VLLM_ENDPOINT,
            "labels": {"model": "gpt2"}
        }
    ))

    # Collect metrics (the documentation's naive-UTC isoformat() + "Z" timestamps)
    end_time = datetime.now(timezone.utc).replace(tzinfo=None)
    start_time = end_time - timedelta(hours=1)

    response = checked(http.post(
        f"{BASE_URL}/sessions/{session_id}/collect",
        json={
            "window_start": start_time.isoformat() + "Z",
            "window_end": end_time.isoformat() + "Z",
            "out_dir": OUT_DIR,
            "run_id": "benchmark-run"
        }
    ))

    body = response.json()
    artifacts = body["artifacts"]
    print(f"Metrics saved to: {artifacts}")
    # benchmon's verdict on the data (the status is 201 whatever it is): ok, partial or empty.
    print(f"Quality: {body['quality']}")
    for reason in body["quality_reasons"]:
        print(f"  - {reason['detail']}")
finally:
    # Stop session
    http.post(f"{BASE_URL}/sessions/{session_id}/stop")

# The seed document's Python client example, verbatim but for one line: BASE_URL may come from
# the environment. benchmon's tests run it unchanged otherwise (tests/api/sessions_slurm.rs), to
# keep the promise that `response.json()["artifacts"]` works as documented — including the
# `/app/logs/metrics` out_dir (re-rooted under the artifacts root) and collecting right after
# start (the collection waits until Prometheus runs).
import os
import requests
from datetime import datetime, timedelta

BASE_URL = os.environ.get("BENCHMON_API", "http://localhost:8002/api/v1")

# Create session
response = requests.post(
    f"{BASE_URL}/sessions",
    json={
        "run_id": "my-benchmark",
        "prometheus_port": 9090,
        "prom_host": "localhost"
    }
)
session = response.json()
session_id = session["session_id"]

# Start session
requests.post(
    f"{BASE_URL}/sessions/{session_id}/start",
    json={"partition": "cpu", "time_limit": "01:00:00"}
)

# Register a vLLM service
requests.post(
    f"{BASE_URL}/services",
    json={
        "session_id": session_id,
        "client_id": "client-01",
        "name": "vllm",
        "endpoint": "http://mel2153:8000/metrics",
        "labels": {"model": "gpt2"}
    }
)

# Collect metrics
end_time = datetime.utcnow()
start_time = end_time - timedelta(hours=1)

response = requests.post(
    f"{BASE_URL}/sessions/{session_id}/collect",
    json={
        "window_start": start_time.isoformat() + "Z",
        "window_end": end_time.isoformat() + "Z",
        "out_dir": "/app/logs/metrics",
        "run_id": "benchmark-run"
    }
)

artifacts = response.json()["artifacts"]
print(f"Metrics saved to: {artifacts}")

# Stop session
requests.post(f"{BASE_URL}/sessions/{session_id}/stop")

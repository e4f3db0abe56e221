#!/usr/bin/env python3
"""The seed's Python example, with benchmon_client: a session around a benchmark, its window,
the collection and its verdict. BENCHMON_URL (and BENCHMON_TOKEN) say where the server is.

    RUN_ID=my-benchmark NODE_EXPORTER=gpu-n1:9100 python3 examples/python/seed_example.py
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmon_client import Client  # noqa: E402

run_id = os.environ.get("RUN_ID", "my-benchmark")
scrape = os.environ.get("SCRAPE_INTERVAL", "15s")
with Client().session(run_id, labels={"model": "gpt2"}, scrape_interval=scrape,
                      slurm={"time_limit": "01:00:00"}) as s:
    print(f"Prometheus at {s.prometheus_url} (SLURM job {s.view['slurm_job_id']})")
    s.register_client("client-01", node="localhost",
                      exporters={"node": os.environ.get("NODE_EXPORTER", "localhost:9100")})
    with s.window("steady"):
        subprocess.run(os.environ.get("BENCHMARK", "sleep 5"), shell=True, check=True)
    result = s.collect(window="steady", run_id="benchmark-run")
    print(f"verdict: {result.quality} {result.reasons}")
    print(f"report: {result.report}")
    print(f"Metrics saved to: {result.artifacts}")

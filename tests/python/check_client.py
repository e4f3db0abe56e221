"""Checks benchmon_client's error mapping and context managers against a running server
(BENCHMON_URL); run by tests/cli/python_client.rs. Exits non-zero, naming the check, on failure."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../examples/python"))
import benchmon_client as bc  # noqa: E402

client = bc.Client()
run_id = os.environ["RUN_ID"]

# 422 with the field named.
try:
    client.create_session("bad id!")
    sys.exit("create with a bad run id did not raise")
except bc.ValidationError as e:
    assert e.status == 422 and e.field == "run_id", e

# 404.
try:
    client.get_session("no-such-session-" + run_id)
    sys.exit("a missing session did not raise")
except bc.NotFound as e:
    assert e.status == 404, e

# A session that is never started: the window context closes the window even when the block
# raises, and the session view comes back typed.
s = client.create_session(run_id)
assert s.state == "created", s.view
try:
    with s.window("w1"):
        raise RuntimeError("benchmark failed")
except RuntimeError:
    pass
windows = client.request("GET", f"/sessions/{run_id}/windows")
w1 = [w for w in windows if w["name"] == "w1"]
assert w1 and w1[0].get("end"), windows

# 409: a window name twice.
try:
    s.open_window("w1")
    sys.exit("a second window w1 did not raise")
except bc.Conflict as e:
    assert e.status == 409, e
s.delete()

# Nothing listening: ServerUnreachable after the retries, naming the way out.
dead = bc.Client("http://127.0.0.1:9", retries=1)
try:
    dead.get_session("x")
    sys.exit("an unreachable server did not raise")
except bc.ServerUnreachable as e:
    assert "benchmon serve" in str(e), e
print("client checks passed")

"""`relay run`: the real executable wrapping a child, against a live relay."""
import os
import signal
import subprocess
import sys
import time

from relay.server.settings import Settings
from tests.agent_side import RELAY, environment, free_port
from tests.conftest import Live


def child(code):
    """argv running Python code as the child."""
    return [sys.executable, "-c", code]


def until_exists(stop_file):
    """argv of a child that runs until `stop_file` exists."""
    return child(f"import os, time\nwhile not os.path.exists({str(stop_file)!r}): time.sleep(0.05)")


def until(predicate, seconds=20, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def agent(live, agent_id):
    status, body = live.request("GET", f"/api/agents/{agent_id}")
    return body if status == 200 else None


def test_child_exit_code_environment_and_offline(live, tmp_path):
    env = environment(live, tmp_path)
    out = tmp_path / "child.txt"
    code = ("import os, sys; e = os.environ; "
            f"open({str(out)!r}, 'w').write(' '.join(e.get(k, '-') for k in "
            "('RELAY_URL', 'RELAY_AGENT_ID', 'RELAY_INSTANCE_ID', 'RELAY_EPOCH'))); sys.exit(3)")
    done = subprocess.run([RELAY, "run", "--id", "worker", "--label", "W", "--tag", "t",
                           "--cap", "c", "--", *child(code)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "", "")
    url, agent_id, instance, epoch = out.read_text().split()
    card = agent(live, "worker")
    assert (url, agent_id, instance, epoch) == (env["RELAY_URL"], "worker", card["instanceId"], "1")
    assert (card["status"], card["label"], card["tags"], card["capabilities"]) == ("offline", "W", ["t"], ["c"])
    assert card["meta"]["pid"] > 0


def test_sigterm_is_forwarded_and_the_child_signal_is_the_exit_code(live, tmp_path):
    env = environment(live, tmp_path, RELAY_HEARTBEAT="0.2")
    pid_file = tmp_path / "pid"
    code = (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
            "time.sleep(120)")
    runner = subprocess.Popen([RELAY, "run", "--id", "sleeper", "--", *child(code)],
                              env=env, stderr=subprocess.PIPE, text=True)
    until(lambda: pid_file.exists() and pid_file.read_text())
    until(lambda: (agent(live, "sleeper") or {}).get("status") == "online")
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 128 + signal.SIGTERM
    child_pid = int(pid_file.read_text())
    try:
        os.kill(child_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert agent(live, "sleeper")["status"] == "offline"
    assert "Traceback" not in runner.stderr.read()


def test_a_relay_restarted_mid_run(tmp_path):
    port = free_port()
    settings = Settings(db=str(tmp_path / "r.db"), port=port, reap_interval=3600)
    server = Live(settings)
    env = environment(server, tmp_path, RELAY_HEARTBEAT="0.2")
    stop_file = tmp_path / "stop"
    runner = subprocess.Popen([RELAY, "run", "--id", "steady", "--", *until_exists(stop_file)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        first = until(lambda: agent(server, "steady"))
        server.stop()
        time.sleep(1.0)                       # down for a few heartbeats: the child lives on
        assert runner.poll() is None
        server = Live(settings)               # same database, same port
        seen = first["lastSeen"]
        until(lambda: agent(server, "steady")["lastSeen"] > seen + 800)
        assert agent(server, "steady")["instanceId"] == first["instanceId"]
        server.stop()
        # now on a new database: the heartbeat's 404 registers the agent again
        server = Live(Settings(db=str(tmp_path / "new.db"), port=port, reap_interval=3600))
        again = until(lambda: agent(server, "steady"))
        assert (again["status"], again["instanceId"]) == ("online", first["instanceId"])
        stop_file.write_text("x")
        assert runner.wait(timeout=30) == 0
        assert agent(server, "steady")["status"] == "offline"
    finally:
        if runner.poll() is None:
            runner.kill()
        server.stop()
    err = runner.stderr.read()
    assert "relay run: cannot reach" in err and "Traceback" not in err
    assert f"relay run: in touch with http://127.0.0.1:{port} again" in err


def test_a_spawned_agent_links_to_its_policy(live, tmp_path):
    live.request("POST", "/api/orchestrators", {"id": "h1", "providers": ["claude"],
                                                "baseDir": str(tmp_path)})
    status, _ = live.request("PUT", "/api/spawn-policy/reviewer",
                             {"orchestratorId": "h1", "provider": "claude", "cwd": str(tmp_path)})
    assert status == 201
    status, started = live.request("POST", "/api/spawn-policy/reviewer/start")
    assert status == 202
    request_id = started["command"]["params"]["spawnRequestId"]
    status, body = live.request("GET", "/api/spawn-policy/reviewer/status")
    assert body["state"]["status"] == "starting"
    env = environment(live, tmp_path, RELAY_POLICY_NAME="reviewer", RELAY_SPAWN_REQUEST_ID=request_id,
                      RELAY_ORCHESTRATOR_ID="h1", RELAY_TMUX_SESSION="relay-reviewer-1")
    stop_file = tmp_path / "stop"
    runner = subprocess.Popen([RELAY, "run", "--id", "reviewer-1", "--", *until_exists(stop_file)], env=env)
    try:
        state = until(lambda: (s := live.request("GET", "/api/spawn-policy/reviewer/status")[1]["state"])
                      ["status"] == "running" and s)
        assert state["agentId"] == "reviewer-1"
    finally:
        stop_file.write_text("x")
        assert runner.wait(timeout=30) == 0
    meta = agent(live, "reviewer-1")["meta"]
    assert {k: meta[k] for k in ("policyName", "spawnRequestId", "orchestratorId", "tmuxSession")} == {
        "policyName": "reviewer", "spawnRequestId": request_id, "orchestratorId": "h1",
        "tmuxSession": "relay-reviewer-1"}


def test_usage_and_a_missing_command(live, tmp_path):
    env = environment(live, tmp_path)
    done = subprocess.run([RELAY, "run", "--id", "x"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "a command to run is required" in done.stderr
    done = subprocess.run([RELAY, "run", "--id", "x", "--", "/nonexistent/prog"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 127 and done.stderr.startswith("relay run: cannot start /nonexistent/prog")
    assert agent(live, "x")["status"] == "offline"


def test_another_process_taking_the_id_stops_the_heartbeats(live, tmp_path):
    env = environment(live, tmp_path, RELAY_HEARTBEAT="0.2")
    stop_file = tmp_path / "stop"
    runner = subprocess.Popen([RELAY, "run", "--id", "shared", "--", *until_exists(stop_file)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: agent(live, "shared"))
        status, taken = live.request("POST", "/api/agents", {"id": "shared", "instanceId": "other-proc"})
        assert status == 200 and taken["instanceId"] == "other-proc"
        line = runner.stderr.readline()
        assert line == ("relay run: agent shared was taken by another process (stale agent session); "
                        "heartbeats stopped\n")
        assert runner.poll() is None                  # the child runs on
    finally:
        stop_file.write_text("x")
    assert runner.wait(timeout=30) == 0
    # the new holder's session is left alone: not patched offline by the old runner
    card = agent(live, "shared")
    assert (card["instanceId"], card["status"]) == ("other-proc", "online")


def test_ctrl_c_reaches_the_child_once_and_the_runner_survives_it(live, tmp_path):
    env = environment(live, tmp_path)
    pid_file = tmp_path / "pid"
    code = ("import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)")
    # its own process group, as a terminal's foreground job
    runner = subprocess.Popen([RELAY, "run", "--id", "fg", "--", *child(code)], env=env,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    until(lambda: pid_file.exists() and pid_file.read_text())
    until(lambda: (agent(live, "fg") or {}).get("status") == "online")
    assert os.getpgid(int(pid_file.read_text())) == runner.pid      # the child is in the group
    os.kill(runner.pid, signal.SIGINT)                               # the runner alone: ignored
    time.sleep(0.5)
    assert runner.poll() is None
    os.killpg(runner.pid, signal.SIGINT)                             # Ctrl-C at the terminal
    assert runner.wait(timeout=30) == 128 + signal.SIGINT
    assert agent(live, "fg")["status"] == "offline"
    assert "Traceback" not in runner.stderr.read()

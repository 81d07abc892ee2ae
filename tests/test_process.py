"""The real server process: `python -m relay serve`, its startup line and its exit."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, **env):
    port = free_port()
    environment = {**os.environ, "RELAY_DB": str(tmp_path / "p.db"), "RELAY_PORT": str(port),
                   "RELAY_KEEPALIVE": "0.5", **env}
    if "AGENT_RELAY_TOKEN" not in env:
        environment.pop("AGENT_RELAY_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "relay", "serve"], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, port, line


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, json.loads(r.read())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_then_signal_exits_zero(tmp_path, signum):
    proc, port, line = start(tmp_path)
    try:
        assert line.startswith(f"relay http://127.0.0.1:{port} ")
        assert str(tmp_path / "p.db") in line
        assert get(port, "/api/health")[1]["status"] == "ok"
        began = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(10) == 0
        assert time.monotonic() - began < 5
    finally:
        proc.kill()
        proc.wait()


def test_refuses_non_loopback_without_token(tmp_path):
    proc, _, _ = start(tmp_path, RELAY_HOST="0.0.0.0")
    assert proc.wait(10) == 2
    assert "refusing to listen on 0.0.0.0 without a token" in proc.stderr.read()


def test_bad_setting_exits_with_message(tmp_path):
    proc, _, _ = start(tmp_path, RELAY_PORT="nope")
    assert proc.wait(10) == 2
    assert "RELAY_PORT must be a number" in proc.stderr.read()


def test_init_db_creates_and_exits(tmp_path):
    path = tmp_path / "init.db"
    out = subprocess.run([sys.executable, "-m", "relay", "init-db"], capture_output=True, text=True,
                         env={**os.environ, "RELAY_DB": str(path)}, timeout=30)
    assert out.returncode == 0
    assert path.exists()
    from relay.server.db import SCHEMA_VERSION
    assert f"schema version {SCHEMA_VERSION}" in out.stdout


def test_loopback_rule():
    from relay.server.settings import ConfigError, Settings
    from relay.server.serving import Server, is_loopback
    assert all(map(is_loopback, ["127.0.0.1", "127.9.9.9", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "example.org", "::"]))
    with pytest.raises(ConfigError, match="AGENT_RELAY_TOKEN"):
        Server(Settings(host="10.1.2.3"))


def test_sigterm_with_a_hundred_open_streams(tmp_path):
    from simple_websocket import Client

    from .sse import SSE
    proc, port, _ = start(tmp_path, RELAY_THREADS="128", RELAY_KEEPALIVE="15",
                          RELAY_MAX_STREAMS_PER_CLIENT="0")
    streams, sockets = [], []
    try:
        for i in range(90):
            stream = SSE(port, "/api/events" + ("?since=0" if i % 2 else ""))
            assert stream.status == 200
            assert stream.frame() == {"comment": "connected"}
            streams.append(stream)
        for _ in range(10):
            ws = Client.connect(f"ws://127.0.0.1:{port}/api/ws")
            ws.send(json.dumps({"type": "subscribe"}))
            assert json.loads(ws.receive(5))["type"] == "ack"
            sockets.append(ws)
        health = get(port, "/api/health")[1]
        assert (health["streams"]["sse"], health["streams"]["ws"]) == (90, 10)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - began < 5
        assert all(stream.frame() is None for stream in streams)    # each stream ended
    finally:
        proc.kill()
        proc.wait()
        for stream in streams:
            stream.close()


def test_nothing_acknowledged_is_lost_when_killed(tmp_path):
    proc, port, _ = start(tmp_path)
    try:
        post = lambda path, body: json.loads(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}), timeout=5).read())
        post("/api/agents", {"id": "a"})
        acknowledged = [post("/api/messages", {"from": "z", "to": "a", "body": str(i)})["id"]
                        for i in range(100)]
        proc.kill()                                   # SIGKILL: no shutdown code runs
        proc.wait(10)
    finally:
        proc.kill()
    proc, port, _ = start(tmp_path)
    try:
        assert get(port, "/api/messages/cursor")[1] == {"latestId": acknowledged[-1]}
        stored = get(port, "/api/messages?for=a&limit=500")[1]
        assert [m["id"] for m in stored] == acknowledged
        events = get(port, "/api/events/recent?types=message.new&limit=500")[1]
        assert [e["data"]["id"] for e in events] == acknowledged
    finally:
        proc.terminate()
        proc.wait(10)


def run_cli(*args, **env):
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "relay", *args], env=environment,
                          capture_output=True, text=True, timeout=30)


def test_serve_help_says_what_each_option_means_and_its_default():
    out = run_cli("serve", "--help").stdout
    assert "--port VALUE" in out and "port to listen on (env RELAY_PORT; default 4850)" in out
    assert "(env RELAY_KEEPALIVE; default 15)" in out
    assert "(env AGENT_RELAY_TOKEN; default unset)" in out


def test_bogus_log_level_is_one_line(tmp_path):
    done = run_cli("serve", "--log-level", "bogus", RELAY_DB=str(tmp_path / "x.db"))
    assert done.returncode == 2
    assert done.stderr == ("relay: RELAY_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, "
                           "CRITICAL, got 'bogus'\n")


def test_address_in_use_names_the_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--port", str(port), RELAY_DB=str(tmp_path / "x.db"))
    assert done.returncode == 2
    assert done.stderr == f"relay: cannot listen on 127.0.0.1:{port}: Address already in use\n"

"""The real `relay orchestrator` process for the end-to-end tests, with a tmux server of
its own, a base dir, a state dir and the fake provider (tests/fake_provider.py)."""
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from relay.server.settings import Settings
from relay.orchestrator.tmux import Tmux

from .conftest import Live

FAKE = Path(__file__).with_name("fake_provider.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


class Relay:
    """A live relay (waitress, in this process) on a fixed port, so it can be restarted on
    the same database and address; short ticks."""

    def __init__(self, db: str, port: int | None = None, token: str | None = None):
        self.db, self.port, self.token = db, port or free_port(), token
        self.live = None
        self.start()

    def start(self):
        self.live = Live(Settings(db=self.db, port=self.port, threads=32, keepalive=0.5,
                                  reap_interval=3600, lifecycle_tick=0.2, token=self.token))

    def stop(self):
        self.live.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def call(self, method, path, body=None):
        headers = {"X-Agent-Relay-Token": self.token} if self.token else {}
        return self.live.request(method, path, body, headers)

    def ok(self, method, path, body=None, status=(200, 201, 202)):
        code, answer = self.call(method, path, body)
        assert code in ((status,) if isinstance(status, int) else status), (code, answer)
        return answer

    def state(self, policy):
        return self.ok("GET", f"/api/spawn-policy/{policy}/status")["state"]

    def command(self, command_id):
        return self.ok("GET", f"/api/commands/{command_id}")

    def finished(self, command_id, timeout=20.0):
        return wait_for(lambda: (c := self.command(command_id))["status"] in (
            "succeeded", "failed") and c, timeout, f"command {command_id} finished")

    def running(self, policy, other_than=None, timeout=30.0):
        return wait_for(lambda: (s := self.state(policy))["status"] == "running"
                        and s["agentId"] != other_than and s, timeout, f"policy {policy} running")

    def states(self, policy):
        events = self.ok("GET", "/api/events/recent?limit=500&types=policy.state.changed")
        return [e["data"]["status"] for e in events if e["data"]["policyName"] == policy]


class Orchestrator:
    FAKE_COMMAND = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"

    def __init__(self, tmp: Path, relay: Relay, orchestrator_id="h1", **env):
        self.tmp, self.relay, self.id = tmp, relay, orchestrator_id
        self.base = tmp / "src"
        (self.base / "app").mkdir(parents=True, exist_ok=True)
        self.socket = f"relay-e2e-{os.getpid()}-{tmp.name}"[:60]
        self.tmux = Tmux(self.socket)
        self.env = {**os.environ, "RELAY_URL": relay.url, "XDG_STATE_HOME": str(tmp / "state"),
                    "RELAY_PROVIDER_FAKE": self.FAKE_COMMAND,
                    "RELAY_PROVIDER_CLAUDE": str(tmp / "no-claude-here"),
                    "RELAY_PROVIDER_CODEX": "", "RELAY_HEARTBEAT": "1", **env}
        self.env.pop("AGENT_RELAY_TOKEN", None)
        if relay.token:
            self.env["AGENT_RELAY_TOKEN"] = relay.token
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.log = open(self.tmp / f"orchestrator-{self.runs}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "orchestrator", "--id", self.id, "--base-dir",
             str(self.base), "--listen", "127.0.0.1:0", "--tmux-socket", self.socket,
             "--watch", "0.2", "--sweep", "0.5", "--heartbeat", "1", "--grace", "3"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "API on" in self.output() or self.proc.poll() is not None,
                 what="the orchestrator started")
        assert self.proc.poll() is None, self.output()
        return self

    def output(self):
        return "\n".join((self.tmp / f"orchestrator-{n}.log").read_text()
                         for n in range(1, self.runs + 1))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            code = self.proc.wait(20)
            self.log.close()
            return code

    def close(self):
        self.stop(signal.SIGKILL)
        if self.tmux.panes():
            self.tmux.run("kill-server")

    def sessions(self):
        return self.tmux.panes("relay-")

    def record(self):
        return self.relay.ok("GET", f"/api/orchestrators/{self.id}")

    def command(self, kind, **params):
        return self.relay.ok("POST", "/api/commands", {"type": kind,
                                                       "target": f"orchestrator-{self.id}",
                                                       "params": params})

    def api(self, path):
        """A GET on the orchestrator's own API, with its apiToken unknown here: only
        through the relay's proxies (this checks what the relay forwards)."""
        return self.relay.call("GET", f"/api/orchestrators/{self.id}/{path}")


def stream_lines(port, path, until, timeout=20.0, headers=None):
    """Read an event stream's frames until `until(frames)` holds; the frames."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    frames, event = [], {}
    deadline = time.monotonic() + timeout
    try:
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if not line:
                if event:
                    frames.append(event)
                    if until(frames):
                        return frames
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                event[key] = json.loads(value) if key == "data" else value.strip()
            if time.monotonic() > deadline:
                break
    finally:
        conn.close()
    raise AssertionError(f"stream {path} ended without the awaited frames: {frames}")

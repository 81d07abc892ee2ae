"""How fast a spawn policy keeps an agent running with the real daemon: the time from
PUT of an `always` policy to its agent `running`, and from its tmux session killed to
the agent running again (a new instance), with the fake provider (tests/) as agent.

    .venv/bin/python bench/orchestrator.py [--rounds 5] [--tick 10] [--backoff 5] [--watch 2]

The defaults are the shipped ones (RELAY_LIFECYCLE_TICK 10 s, backoffSeconds 5,
the orchestrator's watch 2 s, sweep 10 s). The relay and the orchestrator run as
subprocesses, each agent in its own tmux session on a tmux server of its own.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import start_relay, stop  # noqa: E402
from relay.orchestrator.tmux import Tmux  # noqa: E402
from tests.orchestrator_harness import wait_for  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                    "fake_provider.py")


def call(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tick", type=float, default=10.0, help="RELAY_LIFECYCLE_TICK")
    parser.add_argument("--backoff", type=int, default=5, help="the policy's backoffSeconds")
    parser.add_argument("--watch", type=float, default=2.0, help="the orchestrator's --watch")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="relay-orch-bench-")
    os.makedirs(os.path.join(tmp, "src", "app"))
    relay, port = start_relay(os.path.join(tmp, "relay.db"), RELAY_LIFECYCLE_TICK=str(args.tick))
    socket_name = f"relay-bench-{os.getpid()}"
    env = {**os.environ, "RELAY_URL": f"http://127.0.0.1:{port}", "XDG_STATE_HOME": tmp,
           "RELAY_PROVIDER_FAKE": f"{shlex.quote(sys.executable)} {shlex.quote(FAKE)}",
           "RELAY_LOG_LEVEL": "WARNING"}
    env.pop("AGENT_RELAY_TOKEN", None)
    orch = subprocess.Popen([sys.executable, "-m", "relay", "orchestrator", "--id", "bench",
                             "--base-dir", os.path.join(tmp, "src"), "--listen", "127.0.0.1:0",
                             "--tmux-socket", socket_name, "--watch", str(args.watch)],
                            env=env, stdout=subprocess.DEVNULL)
    tmux = Tmux(socket_name)
    up, back = [], []
    try:
        wait_for(lambda: _registered(port), 60)
        for n in range(args.rounds):
            name = f"keeper{n}"
            state = lambda: call(port, "GET", f"/api/spawn-policy/{name}/status")["state"]
            t0 = time.monotonic()
            call(port, "PUT", f"/api/spawn-policy/{name}", {
                "orchestratorId": "bench", "provider": "fake", "cwd": "app", "mode": "always",
                "restart": {"backoffSeconds": args.backoff}})
            first = wait_for(lambda: (s := state())["status"] == "running" and s, 120)
            up.append(time.monotonic() - t0)
            t1 = time.monotonic()
            tmux.kill(first["tmuxSession"])
            wait_for(lambda: (s := state())["status"] == "running"
                     and s["agentId"] != first["agentId"], 120)
            back.append(time.monotonic() - t1)
            call(port, "DELETE", f"/api/spawn-policy/{name}")
            wait_for(lambda: not any(k.startswith(f"relay-{name}-") for k in tmux.panes()), 120)
    finally:
        orch.terminate()
        orch.wait(20)
        if tmux.panes():
            tmux.run("kill-server")
        stop(relay)
    print(f"settings: RELAY_LIFECYCLE_TICK={args.tick} backoffSeconds={args.backoff} "
          f"--watch {args.watch} (sweep 10, heartbeat 15), {args.rounds} rounds")
    for label, values in (("PUT always policy -> running", up),
                          ("session killed -> running again", back)):
        print(f"{label:34s} median {statistics.median(values):6.2f} s   min {min(values):6.2f}"
              f"   max {max(values):6.2f}")
    return 0


def _registered(port):
    try:
        return call(port, "GET", "/api/orchestrators/bench")["status"] == "online"
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())

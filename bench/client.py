"""The agent side's costs, against a relay subprocess on this machine:

- `relay inbox` and `relay hook claude UserPromptSubmit`: wall time per call
  (a new process each time, as a hook or a shell loop pays it), beside
  `python -c pass` for the interpreter's own start;
- `relay mcp`: process start to `initialize` answered;
- an MCP tool call's time over the HTTP call(s) it makes (relay_inbox: one
  inbox poll; relay_thread: the thread plus the poll behind the "new
  messages" notice).

    .venv/bin/python bench/client.py [--rounds 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import start_relay, stop  # noqa: E402
from relay.client import Client  # noqa: E402

RELAY = os.path.join(os.path.dirname(sys.executable), "relay")


def wall(argv, env, rounds, stdin=None):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, max(times) * 1000


class Stdio:
    """A bare JSON-RPC line client for `relay mcp` (no SDK on this side)."""

    def __init__(self, env):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([RELAY, "mcp"], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.next_id = 0

    def request(self, method, params):
        self.next_id += 1
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                          "params": params}) + "\n")
        self.proc.stdin.flush()
        while True:
            answer = json.loads(self.proc.stdout.readline())
            if answer.get("id") == self.next_id:
                return answer

    def initialize(self):
        answer = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "bench", "version": "0"}})
        elapsed = time.perf_counter() - self.started
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        self.proc.stdin.flush()
        assert "result" in answer, answer
        return elapsed

    def call(self, name, arguments):
        answer = self.request("tools/call", {"name": name, "arguments": arguments})
        assert not answer["result"].get("isError"), answer
        return answer

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def per_call(fn, rounds):
    fn()
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_relay(os.path.join(tmp, "bench.db"))
        try:
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "RELAY_URL": url, "RELAY_AGENT_ID": "bench",
                   "XDG_STATE_HOME": os.path.join(tmp, "state")}
            client = Client(url)
            client.register("bench")
            first = client.send("other", "bench", "hello")
            for i in range(5):
                client.send("other", "bench", f"reply {i}", replyTo=first["id"])

            base = wall([sys.executable, "-c", "pass"], env, args.rounds)
            inbox = wall([RELAY, "inbox", "--peek"], env, args.rounds)
            hook = wall([RELAY, "hook", "claude", "UserPromptSubmit"], env, args.rounds,
                        stdin=json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "x",
                                          "cwd": tmp}))
            print(f"python -c pass                      median {base[0]:6.1f} ms  max {base[1]:6.1f} ms")
            print(f"relay inbox --peek                  median {inbox[0]:6.1f} ms  max {inbox[1]:6.1f} ms")
            print(f"relay hook claude UserPromptSubmit  median {hook[0]:6.1f} ms  max {hook[1]:6.1f} ms")

            starts = []
            for _ in range(5):
                session = Stdio(env)
                starts.append(session.initialize())
                session.close()
            print(f"relay mcp: start to initialize      median {statistics.median(starts) * 1000:6.0f} ms"
                  f"  max {max(starts) * 1000:6.0f} ms  (5 starts)")

            session = Stdio(env)
            session.initialize()
            calls = args.rounds * 10
            mcp_inbox = per_call(lambda: session.call("relay_inbox", {"peek": True}), calls)
            http_inbox = per_call(lambda: client.inbox("bench", since=0), calls)
            mcp_thread = per_call(lambda: session.call("relay_thread", {"id": first["id"]}), calls)
            http_thread = per_call(lambda: (client.thread(first["id"]), client.inbox("bench", since=10**9)),
                                   calls)
            session.close()
            print(f"relay_inbox  {mcp_inbox:5.2f} ms per call; its HTTP poll {http_inbox:5.2f} ms; "
                  f"overhead {mcp_inbox - http_inbox:5.2f} ms")
            print(f"relay_thread {mcp_thread:5.2f} ms per call; its 2 HTTP calls {http_thread:5.2f} ms; "
                  f"overhead {mcp_thread - http_thread:5.2f} ms")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()

"""Closed-loop tasks: create + claim + resolve cycles per second with a callback
receiver running, and the callback delivery lag (resolve answered -> callback
received) at p50/p99.

    .venv/bin/python bench/tasks.py [--seconds 8] [--clients 4]

Each client process opens a task with a callbackUrl, claims it as its own
agent and resolves it, over one keep-alive connection, as fast as it can.
The receiver (an http.server in this process) answers 200 and notes when the
`resolved` callback of each task arrives; both clocks are this machine's.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import cpu_seconds, percentile, start_relay, stop  # noqa: E402

HEADERS = {"Content-Type": "application/json"}


def call(conn, method, path, body):
    conn.request(method, path, body=json.dumps(body), headers=HEADERS)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
    return json.loads(data)


def worker(port, callback_url, seconds, index, results):
    """One client: create, claim, resolve, again; returns [(task id, resolve answered at)]."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    agent = f"bench-{index}"
    call(conn, "POST", "/api/agents", {"id": agent})
    resolved = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        task = call(conn, "POST", "/api/tasks", {"title": "suite red", "source": "bench",
                                                 "callbackUrl": callback_url})
        call(conn, "POST", f"/api/tasks/{task['id']}/claim", {"agentId": agent})
        call(conn, "POST", f"/api/tasks/{task['id']}/status",
             {"status": "resolved", "agentId": agent})
        resolved.append((task["id"], time.time()))
    results.put(resolved)


class Receiver:
    def __init__(self):
        self.arrived: dict[int, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                at = time.time()
                with receiver.lock:
                    receiver.count += 1
                    if body["task"]["status"] == "resolved":
                        receiver.arrived[body["task"]["id"]] = at
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="relay-bench-tasks-")
    receiver = Receiver()
    relay, port = start_relay(os.path.join(workdir, "tasks.db"),
                              RELAY_SYNCHRONOUS=args.synchronous)
    try:
        before = cpu_seconds(relay.pid)
        results = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=worker,
                                         args=(port, receiver.url, args.seconds, i, results))
                 for i in range(args.clients)]
        for p in procs:
            p.start()
        resolved = [pair for _ in procs for pair in results.get()]
        for p in procs:
            p.join()
        cpu = cpu_seconds(relay.pid) - before
        # The last callbacks may still be on their way.
        deadline = time.monotonic() + 30
        while len(receiver.arrived) < len(resolved) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop(relay)
        receiver.server.shutdown()
    lags = [(receiver.arrived[task_id] - answered) * 1000
            for task_id, answered in resolved if task_id in receiver.arrived]
    cycles = len(resolved) / args.seconds
    print(f"clients: {args.clients} keep-alive processes, {args.seconds:g} s, "
          f"{os.cpu_count()} cores, synchronous={args.synchronous}")
    print(f"create+claim+resolve   {cycles:8.1f} cycles/s  ({3 * cycles:.0f} req/s)   "
          f"server CPU {cpu * 1000 / max(1, 3 * len(resolved)):.3f} ms/req")
    print(f"callbacks received     {receiver.count} (claimed + resolved), resolved "
          f"{len(receiver.arrived)}/{len(resolved)}")
    if lags:
        print(f"callback lag (resolve answered -> received): p50 {percentile(lags, 0.5):.1f} ms"
              f"  p99 {percentile(lags, 0.99):.1f} ms  max {max(lags):.1f} ms")


if __name__ == "__main__":
    main()

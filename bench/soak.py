"""A steady-load soak: does anything grow without bound?

Starts the relay from the current directory's `relay` package (run it from
another checkout, with that checkout's interpreter, to measure that version),
then for --minutes keeps a steady load on it over loopback: messages sent to
agents and to a label, inboxes polled, tasks opened and moved to a final
status, heartbeats. Every --every seconds it records the server's RSS,
threads, open descriptors and database size (file + WAL) and prints one row;
at the end one JSON line with every sample.

    .venv/bin/python bench/soak.py --minutes 10
    .venv/bin/python bench/soak.py --minutes 10 --trace /tmp/trace.txt   # bench/tracemem.py
    cd ../base && .venv/bin/python ../issue-20/bench/soak.py --minutes 10 --label before
"""
import argparse
import http.client
import json
import os
import shutil
import tempfile
import threading
import time

from common import rss_mib, start_relay, stop

AGENTS = [f"soak-{i}" for i in range(8)]


def status_of(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sample(pid: int, db_path: str, started: float) -> dict:
    size = sum(os.path.getsize(p) for p in (db_path, db_path + "-wal") if os.path.exists(p))
    return {"t": round(time.monotonic() - started), "rssMiB": round(rss_mib(pid), 1),
            "threads": status_of(pid, "Threads"), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "dbMiB": round(size / 2**20, 2)}


class Load:
    """Paced loops over one keep-alive connection each; counts what they did."""

    def __init__(self, port: int, until: float):
        self.port, self.until = port, until
        self.done = {"sends": 0, "polls": 0, "tasks": 0, "errors": 0}
        self.lock = threading.Lock()

    def call(self, conn, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        raw = response.read()
        if response.status >= 400:
            with self.lock:
                self.done["errors"] += 1
        return json.loads(raw) if raw else None

    def paced(self, per_second: float, step, name: str):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        period, i = 1.0 / per_second, 0
        next_at = time.monotonic()
        while time.monotonic() < self.until:
            try:
                step(conn, i)
                with self.lock:
                    self.done[name] += 1
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                with self.lock:
                    self.done["errors"] += 1
            i += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
        conn.close()

    def send(self, conn, i):
        to = AGENTS[i % len(AGENTS)] if i % 4 else "label:soak"
        self.call(conn, "POST", "/api/messages", {
            "from": AGENTS[(i + 1) % len(AGENTS)], "to": to, "subject": f"soak {i}",
            "body": "x" * 400, "payload": {"i": i}})

    def poll(self, conn, i):
        agent = AGENTS[i % len(AGENTS)]
        self.call(conn, "GET", f"/api/messages?for={agent}&unread=1&limit=50")
        if i % 10 == 0:
            self.call(conn, "POST", f"/api/agents/{agent}/heartbeat", {})

    def task(self, conn, i):
        task = self.call(conn, "POST", "/api/tasks", {
            "title": f"soak task {i}", "body": "y" * 200, "source": "soak",
            "payload": {"i": i}})
        for status in ("in_progress", "resolved"):
            self.call(conn, "POST", f"/api/tasks/{task['id']}/status",
                      {"status": status, "agentId": AGENTS[0], "note": "soak"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--sends", type=float, default=20, help="messages per second")
    parser.add_argument("--polls", type=float, default=20, help="inbox polls per second")
    parser.add_argument("--tasks", type=float, default=3, help="tasks per second (3 writes each)")
    parser.add_argument("--label", default="soak")
    parser.add_argument("--reap-interval", default="15")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the relay (e.g. RELAY_MESSAGE_RETENTION=120)")
    parser.add_argument("--trace", metavar="FILE",
                        help="run the relay under tracemalloc (bench/tracemem.py), "
                             "writing its growth to FILE every minute")
    parser.add_argument("--trace-option", action="append", default=[], metavar="ARG",
                        help="passed to bench/tracemem.py (e.g. --trace-option=--frames=0)")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="relay-soak-")
    db_path = os.path.join(folder, "soak.db")
    settings = dict(pair.split("=", 1) for pair in args.env)
    command = None
    if args.trace:
        command = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "tracemem.py"),
                   "--out", os.path.abspath(args.trace), *args.trace_option]
    proc, port = start_relay(db_path, source=os.getcwd(), command=command,
                             RELAY_REAP_INTERVAL=args.reap_interval, **settings)
    try:
        load = Load(port, time.monotonic() + 60 * args.minutes)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for agent in AGENTS:
            load.call(conn, "POST", "/api/agents", {"id": agent, "label": "soak"})
        conn.close()
        threads = [threading.Thread(target=load.paced, args=(rate, step, name), daemon=True)
                   for rate, step, name in ((args.sends, load.send, "sends"),
                                            (args.polls, load.poll, "polls"),
                                            (args.tasks, load.task, "tasks"))]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        samples = []
        print(f"{args.label}: pid {proc.pid}, database {db_path}")
        print("   t  rssMiB  threads  fds  dbMiB   sends  polls  tasks  errors")
        while True:
            samples.append({**sample(proc.pid, db_path, started), **load.done})
            s = samples[-1]
            print(f"{s['t']:4d}  {s['rssMiB']:6.1f}  {s['threads']:7d}  {s['fds']:3d}  "
                  f"{s['dbMiB']:5.1f}  {s['sends']:6d}  {s['polls']:5d}  {s['tasks']:5d}  "
                  f"{s['errors']:6d}", flush=True)
            if time.monotonic() >= load.until:
                break
            time.sleep(min(args.every, max(0.0, load.until - time.monotonic())))
        for thread in threads:
            thread.join(60)
        print(json.dumps({"label": args.label, "samples": samples}))
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Send and poll throughput against a bare waitress+Flask baseline, and poll
latency with 10 000 and with 1 000 000 messages stored.

Everything runs in this one invocation on this machine, bare and relay in
turn, so the ratios are comparable across runs even when absolute numbers move:

    .venv/bin/python bench/messages.py [--seconds 4] [--rounds 3] [--clients 4]
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import cpu_seconds, percentile, start_bare, start_relay, stop  # noqa: E402
from relay import db  # noqa: E402

AGENTS = 100


def request_for(kind: str, worker: int, i: int, cursor: int):
    if kind == "bare":
        return "GET", "/", None
    if kind == "send":
        body = {"from": f"bench-{worker}", "to": f"agent-{i % AGENTS}", "body": "x" * 200}
        return "POST", "/api/messages", json.dumps(body)
    return "GET", f"/api/messages?for=agent-{(worker * 7 + i) % AGENTS}&since={cursor}", None


def worker(port, kind, seconds, index, cursor, results):
    """One keep-alive client: as many requests as it can in `seconds`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    count, latencies = 0, []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        method, path, body = request_for(kind, index, count, cursor)
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers if body else {})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status >= 300:
            raise SystemExit(f"{kind}: HTTP {response.status}")
        count += 1
    results.put((count, latencies))


def throughput(port, kind, seconds, clients, cursor=0):
    """Requests per second over all clients."""
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, kind, seconds, i, cursor, results))
             for i in range(clients)]
    for p in procs:
        p.start()
    gathered = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(c for c, _ in gathered) / seconds


def measure(server, port, kind, seconds, clients, cursor=0):
    """(requests/s, the server's CPU milliseconds per request): the second is
    steadier than the first where the machine's speed drifts."""
    before = cpu_seconds(server.pid)
    rps = throughput(port, kind, seconds, clients, cursor)
    return rps, (cpu_seconds(server.pid) - before) * 1000 / (rps * seconds)


def poll_latency(port, cursor, polls=3000):
    """Sequential steady-state polls (one client, nothing queued ahead of it).

    One untimed poll per agent first: an agent's first poll in a while also
    writes its presence (a commit), which is not what this measures.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(AGENTS):
        conn.request("GET", f"/api/messages?for=agent-{i}&since={cursor}")
        conn.getresponse().read()
    latencies = []
    for i in range(polls):
        started = time.perf_counter()
        conn.request("GET", f"/api/messages?for=agent-{i % AGENTS}&since={cursor}")
        conn.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


def seed(path: str, count: int) -> int:
    """`count` messages straight into SQLite: direct, tag and broadcast
    addresses over AGENTS agents. Returns the highest id."""
    db.init(path)
    conn = sqlite3.connect(path)
    now = int(time.time() * 1000)
    conn.executemany(
        "INSERT INTO agents (id, name, tags, status, instance_id, last_seen, created_at, updated_at)"
        " VALUES (?, ?, ?, 'online', 'seed', ?, ?, ?)",
        [(f"agent-{i}", f"agent-{i}", json.dumps([f"t{i % 10}"]), now, now, now)
         for i in range(AGENTS)])
    rng = random.Random(7)

    def rows():
        for i in range(count):
            roll = rng.random()
            to = ("broadcast" if roll < 0.01 else f"tag:t{rng.randrange(10)}" if roll < 0.1
                  else f"agent-{rng.randrange(AGENTS)}")
            yield ("seeder", to, "seeded message body " * 5, now)
    conn.executemany("INSERT INTO messages (from_agent, to_addr, body, created_at) VALUES (?,?,?,?)",
                     rows())
    conn.commit()
    latest = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
    conn.close()
    return latest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare, send and poll are measured in turn this many times")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="relay-bench-")

    # Both servers run side by side and are measured in turn, round after round:
    # this machine's speed drifts over a minute, and a ratio taken within one
    # round is not thrown by it. The median round is reported.
    small_db = os.path.join(workdir, "small.db")
    seed(small_db, 10_000)
    bare, bare_port = start_bare()
    relay, port = start_relay(small_db, RELAY_SYNCHRONOUS=args.synchronous)
    rounds = []
    try:
        for _ in range(args.rounds):
            bare_run = measure(bare, bare_port, "bare", args.seconds, args.clients)
            send_run = measure(relay, port, "send", args.seconds, args.clients)
            latest = json.loads(http_get(port, "/api/messages/cursor"))["latestId"]
            poll_run = measure(relay, port, "poll", args.seconds, args.clients, latest)
            rounds.append((bare_run, send_run, poll_run))
        small_p50, small_p99 = poll_latency(port, latest)
    finally:
        stop(bare)
        stop(relay)

    large_db = os.path.join(workdir, "large.db")
    started = time.monotonic()
    cursor = seed(large_db, args.large)
    seed_seconds = time.monotonic() - started
    relay, port = start_relay(large_db, RELAY_SYNCHRONOUS=args.synchronous)
    try:
        large_p50, large_p99 = poll_latency(port, cursor)
    finally:
        stop(relay)

    print(f"clients: {args.clients} keep-alive processes, {args.rounds} rounds of "
          f"{args.seconds:g} s each, {os.cpu_count()} cores, synchronous={args.synchronous}")
    for name, column in (("bare waitress+Flask", 0), ("send (POST /messages)", 1),
                         ("poll (GET ?for=)", 2)):
        ratios = [r[column][0] / r[0][0] for r in rounds]
        cpu = statistics.median(r[column][1] for r in rounds)
        print(f"{name:24} {statistics.median(r[column][0] for r in rounds):8.0f} req/s   "
              f"{statistics.median(ratios):.2f} x bare   (rounds: "
              + " ".join(f"{x:.2f}" for x in ratios) + f")   server CPU {cpu:.3f} ms/req")
    print(f"poll latency, 10 000 messages:   p50 {small_p50:.2f} ms  p99 {small_p99:.2f} ms")
    print(f"poll latency, {args.large:,} messages: p50 {large_p50:.2f} ms  p99 {large_p99:.2f} ms"
          f"  (seeded in {seed_seconds:.0f} s)")
    print(f"large / small: p50 {large_p50 / small_p50:.2f}  p99 {large_p99 / small_p99:.2f}")


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse().read()


if __name__ == "__main__":
    main()

"""Sends/s on SQLite and PostgreSQL, one process and two, against the bare
waitress+Flask baseline, and the cross-process event latency (send on A,
SSE on B) p50/p99, and how many transactions PostgreSQL rolled back (README:
"Several relays on PostgreSQL").

    .venv/bin/python bench/pg.py [--seconds 3] [--clients 16] [--pg postgresql://...]
                                 [--source DIR]
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import load  # noqa: E402
from bench.common import percentile, start_bare, start_relay, stop  # noqa: E402

SENDS = [load.request("POST", "/api/messages", json.dumps(
    {"from": f"bench-{i % 7}", "to": f"agent-{i % 100}", "body": "x" * 80}).encode())
    for i in range(100)]


def sends_per_second(ports, seconds, clients):
    results = [None] * len(ports)

    def run(i, port):
        results[i] = load.run(port, SENDS, seconds, clients // len(ports))[0]
    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(ports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(results)


def register(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(100):
        conn.request("POST", "/api/agents", json.dumps({"id": f"agent-{i}"}),
                     {"Content-Type": "application/json"})
        conn.getresponse().read()


def latency(a, b, count=300):
    """Send on A (one at a time), time until B's SSE stream carries it."""
    stream = http.client.HTTPConnection("127.0.0.1", b, timeout=30)
    stream.request("GET", "/api/events?types=message.new")
    response = stream.getresponse()
    response.readline()
    sender = http.client.HTTPConnection("127.0.0.1", a)
    samples = []
    for i in range(count):
        began = time.perf_counter()
        sender.request("POST", "/api/messages", json.dumps(
            {"from": "lat", "to": "agent-1", "body": str(i)}), {"Content-Type": "application/json"})
        sender.getresponse().read()
        while True:
            line = response.readline()
            if line.startswith(b"data:") and json.loads(line[5:])["data"]["body"] == str(i):
                break
        samples.append((time.perf_counter() - began) * 1000)
    stream.close()
    return percentile(samples, 0.5), percentile(samples, 0.99)


def conflicts(admin, name):
    """The run's transactions rolled back (a batch run again after a conflict:
    README "Several relays on PostgreSQL"; the bench's sends fail no other way)
    and deadlocks, as the server counted them once the relays had stopped."""
    import psycopg
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("SELECT pg_stat_clear_snapshot()")
        commits, rollbacks, deadlocks = c.execute(
            "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database "
            "WHERE datname = %s", (name,)).fetchone()
    return (f"   rolled back {rollbacks} of {commits + rollbacks} transactions"
            f" ({deadlocks} deadlocks)")


def pg_database(admin):
    import psycopg
    name = f"relay_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + "/" + name, name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--source", help="a directory holding another version's relay package: "
                        "its SQLite figure is measured first (an A/B of the SQLite path)")
    args = parser.parse_args()
    bare, port = start_bare()
    base = sends_per_second([port], args.seconds, args.clients)
    stop(bare)
    print(f"bare                    {base:8.0f} req/s")
    runs = [("sqlite, --source", 1, "source")] if args.source else []
    runs += [("sqlite, 1 process", 1, "sqlite"), ("postgres, 1 process", 1, "pg"),
             ("postgres, 2 processes", 2, "pg")]
    with tempfile.TemporaryDirectory() as tmp:
        for label, processes, engine in runs:
            if engine in ("sqlite", "source"):
                url, name = os.path.join(tmp, f"{engine}.db"), None
            else:
                url, name = pg_database(args.pg)
            source = args.source if engine == "source" else None
            procs = [start_relay(url, source) for _ in range(processes)]
            register(procs[0][1])
            rate = sends_per_second([p for _, p in procs], args.seconds, args.clients)
            line = f"{label:24}{rate:8.0f} sends/s  {rate / base:5.2f} x bare"
            if processes == 2:
                p50, p99 = latency(procs[0][1], procs[1][1])
                line += f"   A->B event latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            for proc, _ in procs:
                stop(proc)
            if name:
                line += conflicts(args.pg, name)
            print(line, flush=True)
            if name:
                import psycopg
                with psycopg.connect(args.pg, autocommit=True) as c:
                    c.execute(f"DROP DATABASE {name} WITH (FORCE)")


if __name__ == "__main__":
    main()

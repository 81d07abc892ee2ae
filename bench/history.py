"""Costs that could grow with history: GET /api/events/recent?agentId= for an
agent with few events, GET /api/health and GET /api/stats, on a database
holding --messages messages and --events logged events (p50/p99 ms).

    .venv/bin/python bench/history.py [--messages 1000000] [--events 100000] [--base DIR]

With --base DIR, another checkout's relay answers the same on its own copy.
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import init_schema, percentile, start_relay, stop  # noqa: E402
from bench.seed import seed  # noqa: E402

PATHS = ("/api/events/recent?agentId=quiet", "/api/events/recent?agentId=quiet&since={mid}",
         "/api/health", "/api/stats")


def seed_events(path: str, count: int) -> None:
    """`count` message events about the 100 seeded agents, and one agent
    ('quiet') named by three of them."""
    conn = sqlite3.connect(path)
    now = int(time.time() * 1000)
    conn.execute("INSERT INTO agents (id, name, tags, status, instance_id, last_seen, created_at,"
                 " updated_at) VALUES ('quiet', 'quiet', '[]', 'online', 'seed', ?, ?, ?)",
                 (now, now, now))

    def rows():
        for i in range(count):
            to = "quiet" if i in (10, count // 2, count - 10) else f"agent-{i % 100}"
            yield ("message.new", "seeder", str(i), now, json.dumps({"id": i, "to": to}),
                   json.dumps({"to": to, "agents": ["seeder"]}))
    conn.executemany("INSERT INTO events (type, source, subject, time, data, scope)"
                     " VALUES (?,?,?,?,?,?)", rows())
    conn.commit()
    conn.close()


def index_seeded(path: str) -> None:
    """This checkout's event_targets and messages per kind for the rows seeded
    straight into SQL (a relay keeps both as it writes)."""
    from relay.server import db
    from relay.server.store import event_log
    conn = db.connect(path)
    with db.transaction(conn):
        event_log.index_logged(conn)
        conn.execute("INSERT INTO message_counts (kind, n) "
                     "SELECT kind, count(*) FROM messages GROUP BY kind")


def timings(port: int, path: str, count: int = 200):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        latencies.append((time.perf_counter() - started) * 1000)
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--base", metavar="DIR")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="relay-bench-")
    labels = [("base", args.base), ("", None)] if args.base else [("", None)]
    try:
        print(f"{args.messages:,} messages, {args.events:,} events; p50/p99 ms over "
              f"{args.requests} requests; load average {os.getloadavg()[0]:.1f}")
        for label, source in labels:
            path = os.path.join(workdir, f"history{label}.db")
            init_schema(path, source)
            seed(path, args.messages, 0, source, init=False)
            seed_events(path, args.events)
            if source is None:
                index_seeded(path)
            relay, port = start_relay(path, source)
            try:
                for template in PATHS:
                    p = template.format(mid=args.events // 2)
                    p50, p99 = timings(port, p, args.requests)
                    print(f"{label or 'this':5} {p:45} {p50:9.2f} {p99:9.2f}", flush=True)
            finally:
                stop(relay)
                os.remove(path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

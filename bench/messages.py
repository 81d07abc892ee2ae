"""Send and poll throughput against a bare waitress+Flask baseline, at 4 and
at 16 keep-alive clients, and poll latency with 10 000 and with 1 000 000
messages stored.

Everything runs in this one invocation on this machine, bare and relay in
turn, so the ratios are comparable across runs even when absolute numbers move:

    .venv/bin/python bench/messages.py [--seconds 2] [--rounds 3] [--clients 4,16] [--base DIR]

With --base DIR, the relay package found in DIR (another checkout: its own
.venv is used when it has one) runs beside this one on its own copy of the
same data, and each kind is measured on both right after the same bare run:
"x base" is this one's requests/s over base's.

"x bare" is requests/s over bare's; beside the server's CPU per request,
bare's CPU per request over the kind's, which moves less when other work
shares the machine. Polls are measured returning 0, 1 and 50 messages (each
about 400 bytes of JSON, with a subject; 50 make about 20 KB): a poll that
finds messages is what an agent pays for work.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import load  # noqa: E402
from bench.common import cpu_seconds, init_schema, percentile, start_bare, start_relay, stop  # noqa: E402

AGENTS = 100
READERS = 16          # agents whose inbox ends with TAIL messages only for them
TAIL = 50
SUBJECT = "build 4711 failed"
BODY = "tests/test_streams.py and 2 more failed on main; the logs are in the task."
KINDS = ("bare", "send", "poll 0", "poll 1", "poll 50")


def requests_for(kind: str, cursors: dict) -> list[bytes]:
    """The requests a run cycles through (connections start at different offsets)."""
    if kind == "bare":
        return [load.request("GET", "/")]
    if kind == "send":
        return [load.request("POST", "/api/messages", json.dumps(
            {"from": f"bench-{i % 7}", "to": f"agent-{i % AGENTS}", "subject": SUBJECT,
             "body": BODY}).encode()) for i in range(AGENTS)]
    n = int(kind.split()[1])
    return [load.request("GET", f"/api/messages?for=reader-{r}&since={cursors[r][n]}&limit={TAIL}")
            for r in range(READERS)]


def measure(server, port, requests, seconds, clients):
    """(requests/s, p50 ms, p99 ms, the server's CPU ms per request, the
    client's CPU ms per request): CPU per request is steadier than requests/s
    where the machine's speed drifts."""
    before, client_before = cpu_seconds(server.pid), time.process_time()
    rps, latencies, failures = load.run(port, requests, seconds, clients)
    if failures:
        raise SystemExit(f"HTTP {failures[0]} ({len(failures)} failures)")
    served = len(latencies)
    return (rps, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000,
            (cpu_seconds(server.pid) - before) * 1000 / served,
            (time.process_time() - client_before) * 1000 / served)


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


def seed(path: str, count: int, readers: int = 0, source: str | None = None,
         init: bool = True) -> int:
    """`count` messages straight into SQLite (the schema of `source`'s relay):
    direct, tag and broadcast addresses over AGENTS agents; then, for each of
    `readers` agents, TAIL messages to it alone. Returns the highest id."""
    if init:
        init_schema(path, source)
    conn = sqlite3.connect(path)
    now = int(time.time() * 1000)
    conn.executemany(
        "INSERT INTO agents (id, name, tags, status, instance_id, last_seen, created_at, updated_at)"
        " VALUES (?, ?, ?, 'online', 'seed', ?, ?, ?)",
        [(f"agent-{i}", f"agent-{i}", json.dumps([f"t{i % 10}"]), now, now, now)
         for i in range(AGENTS)]
        + [(f"reader-{r}", f"reader-{r}", "[]", now, now, now) for r in range(readers)])
    rng = random.Random(7)

    def rows():
        for i in range(count):
            roll = rng.random()
            to = ("broadcast" if roll < 0.01 else f"tag:t{rng.randrange(10)}" if roll < 0.1
                  else f"agent-{rng.randrange(AGENTS)}")
            yield ("seeder", to, None, "seeded message body " * 5, now)
        for i in range(TAIL * readers):
            yield (f"agent-{i % AGENTS}", f"reader-{i % readers}", SUBJECT, BODY, now)
    conn.executemany("INSERT INTO messages (from_agent, to_addr, subject, body, created_at)"
                     " VALUES (?,?,?,?,?)", rows())
    conn.commit()
    latest = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
    conn.close()
    return latest


def reader_cursors(path: str) -> dict:
    """For each reader, {n: the `since` after which its inbox holds exactly n}."""
    conn = sqlite3.connect(path)
    cursors = {}
    for r in range(READERS):
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM messages WHERE to_addr = ? ORDER BY id DESC LIMIT ?",
            (f"reader-{r}", TAIL))]
        cursors[r] = {0: ids[0], 1: ids[0] - 1, TAIL: ids[-1] - 1}
    conn.close()
    return cursors


def check_polls(port, cursors) -> dict:
    """Each poll kind answers exactly its count; returns its answer's size in bytes."""
    sizes = {}
    for n in (0, 1, TAIL):
        body = http_get(port, f"/api/messages?for=reader-0&since={cursors[0][n]}&limit={TAIL}")
        got = len(json.loads(body))
        if got != n:
            raise SystemExit(f"poll {n} answered {got} messages")
        sizes[f"poll {n}"] = len(body)
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="every kind is measured in turn this many times")
    parser.add_argument("--clients", default="4,16", help="keep-alive connections, comma list")
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--base", metavar="DIR",
                        help="also run the relay package found in DIR (another checkout), "
                             "kind by kind beside this one: a fair before/after on a machine "
                             "whose load drifts")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    workdir = tempfile.mkdtemp(prefix="relay-bench-")
    labels = ["base", ""] if args.base else [""]
    sources = {"": None, "base": args.base}
    try:
        run(args, client_counts, workdir, labels, sources)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, client_counts, workdir, labels, sources):
    # Every server runs side by side and is measured in turn, round after round:
    # this machine's speed drifts over a minute (and other work shares it), so
    # every kind is measured right after a bare run and compared with that one.
    # The median round is reported.
    relays, cursors = {}, None
    for label in labels:
        path = os.path.join(workdir, f"small{label}.db")
        seed(path, 10_000, READERS, sources[label])
        cursors = reader_cursors(path)          # the same rows: the same cursors
        relays[label] = start_relay(path, sources[label], RELAY_SYNCHRONOUS=args.synchronous)
    bare, bare_port = start_bare()
    # results[label, clients, kind]: one tuple per round; "bare" rows pair with
    # the kind measured right after them.
    results = {}
    small = {}
    try:
        for label in labels:
            sizes = check_polls(relays[label][1], cursors)
        for _ in range(args.rounds):
            for clients in client_counts:
                for kind in KINDS[1:]:
                    b = measure(bare, bare_port, requests_for("bare", cursors), args.seconds, clients)
                    results.setdefault(("", clients, "bare"), []).append(b)
                    for label in labels:
                        proc, port = relays[label]
                        r = measure(proc, port, requests_for(kind, cursors), args.seconds, clients)
                        results.setdefault((label, clients, kind), []).append((r, b))
        for label in labels:
            port = relays[label][1]
            latest = json.loads(http_get(port, "/api/messages/cursor"))["latestId"]
            small[label] = poll_latency(port, latest)
    finally:
        stop(bare)
        for proc, _ in relays.values():
            stop(proc)

    large = {}
    seed_seconds = 0.0
    for label in labels:
        large_db = os.path.join(workdir, f"large{label}.db")
        started = time.monotonic()
        cursor = seed(large_db, args.large, 0, sources[label])
        seed_seconds = time.monotonic() - started
        relay, port = start_relay(large_db, sources[label], RELAY_SYNCHRONOUS=args.synchronous)
        try:
            large[label] = poll_latency(port, cursor)
        finally:
            stop(relay)
            os.remove(large_db)

    print(f"{args.rounds} rounds of {args.seconds:g} s per figure, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, synchronous={args.synchronous}; medians over "
          f"rounds; poll N answers N messages (poll 0: {sizes['poll 0']} B, poll 1: "
          f"{sizes['poll 1']} B, poll 50: {sizes['poll 50']} B)")
    base_col = "  x base" if len(labels) > 1 else ""
    for clients in client_counts:
        print(f"\n{clients} keep-alive clients   req/s    x bare  (rounds)       {base_col}    "
              "p50 ms  p99 ms  p99/p50  server CPU ms/req (x bare)  client CPU ms/req")
        bare_runs = results["", clients, "bare"]
        row(clients, "bare", [(b, b) for b in bare_runs], None)
        for kind in KINDS[1:]:
            for label in labels:
                base = results["base", clients, kind] if len(labels) > 1 and label == "" else None
                row(clients, f"{label + ' ' if label else ''}{kind}", results[label, clients, kind], base)
    for name, figures in (("10 000", small), (f"{args.large:,}", large)):
        for label in labels:
            p50, p99 = figures[label]
            print(f"{(label + ' ') if label else ''}poll latency, {name} messages: "
                  f"p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    print(f"(large seeded in {seed_seconds:.0f} s)")
    for label in labels:
        print(f"{(label + ' ') if label else ''}large / small: p50 {large[label][0] / small[label][0]:.2f}"
              f"  p99 {large[label][1] / small[label][1]:.2f}")


def row(clients, name, rounds, base):
    """One printed line: `rounds` is [(relay figures, the bare figures just before)]."""
    ratios = [r[0] / b[0] for r, b in rounds]
    cpu_ratios = [b[3] / r[3] for r, b in rounds]
    figures = [r for r, _ in rounds]
    p50 = statistics.median(r[1] for r in figures)
    p99 = statistics.median(r[2] for r in figures)
    versus = ""
    if base is not None:
        versus = f"  {statistics.median(r[0] / o[0] for (r, _), (o, _) in zip(rounds, base)):5.2f}"
    print(f"  {name:18} {statistics.median(r[0] for r in figures):7.0f}   "
          f"{statistics.median(ratios):5.2f}   ({' '.join(f'{x:.2f}' for x in ratios):15})"
          f"{versus:8} {p50:6.2f}  {p99:6.2f}  {p99 / p50:6.1f}   "
          f"{statistics.median(r[3] for r in figures):10.3f} ({statistics.median(cpu_ratios):.2f})"
          f"{statistics.median(r[4] for r in figures):14.3f}")


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse().read()


if __name__ == "__main__":
    main()

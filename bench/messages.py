"""Send and poll throughput against a bare waitress+Flask baseline, at 4 and
at 16 keep-alive clients, on SQLite and on PostgreSQL (one relay process and
two on one database), poll latency with 10 000 and with 1 000 000 messages
stored, and the cross-process event latency on PostgreSQL.

Everything runs in this one invocation on this machine, bare and relays in
turn, so the ratios are comparable across runs even when absolute numbers move:

    .venv/bin/python bench/messages.py [--seconds 2] [--rounds 3] [--clients 4,16]
        [--db sqlite|postgres|both] [--processes 1,2] [--pg URL]
        [--large 1000000] [--skip-large] [--base DIR]

--db picks the engines (default sqlite). On PostgreSQL (--pg: a server where
CREATE DATABASE works, default postgresql://postgres@127.0.0.1:5432/postgres)
each run has a database of its own, dropped after; --processes lists how many
relay processes share it (the clients dealt out over them in turn), and with
two the script also times a send on one until the other's SSE stream carries
it (p50/p99). --skip-large leaves out the 1 000 000-message poll latency (its
seeding takes about 20 s per engine).

With --base DIR, the relay package found in DIR (another checkout: its own
.venv is used when it has one) runs beside this one on its own copy of the
same data, and each kind is measured on both right after the same bare run:
"x base" is this one's requests/s over base's. A base from before PostgreSQL
support runs on SQLite only: its postgres rows say "n/a".

"x bare" is requests/s over bare's; beside the server's CPU per request (the
relay processes' and, on PostgreSQL, the backends serving its database), bare's
CPU per request over the kind's, which moves less when other work shares the
machine. Polls are measured returning 0, 1 and 50 messages (each about 400
bytes of JSON, with a subject; 50 make about 20 KB): a poll that finds
messages is what an agent pays for work.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import databases, load  # noqa: E402
from bench.common import percentile, start_bare, start_relay, stop  # noqa: E402
from bench.event_latency import event_latency  # noqa: E402
from bench.seed import AGENTS, BODY, READERS, SUBJECT, TAIL, reader_cursors, seed  # noqa: E402

KINDS = ("bare", "send", "poll 0", "poll 1", "poll 50")


@dataclass
class Setup:
    """One engine with its number of relay processes, for this checkout ("")
    or the base: its database, its relays (process, port), its readers' cursors."""
    engine: str
    processes: int
    label: str
    source: str | None
    url: str = ""
    relays: list = field(default_factory=list)
    cursors: dict = field(default_factory=dict)

    @property
    def config(self) -> str:
        return self.engine + (f" x{self.processes}" if self.processes > 1 else "")

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.relays]


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


def measure(procs, url, requests, seconds, clients):
    """(requests/s, p50 ms, p99 ms, the server's CPU ms per request, the
    client's CPU ms per request): CPU per request is steadier than requests/s
    where the machine's speed drifts. `procs`: [(process, port)] sharing `url`."""
    pids = [proc.pid for proc, _ in procs]
    before = databases.server_cpu(pids, url)
    client_before = time.process_time()
    rps, latencies, failures = load.run([port for _, port in procs], requests, seconds, clients)
    client_cpu = time.process_time() - client_before
    after = databases.server_cpu(pids, url)
    if failures:
        raise SystemExit(f"HTTP {failures[0]} ({len(failures)} failures)")
    served = len(latencies)
    return (rps, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000,
            databases.cpu_since(before, after) * 1000 / served, client_cpu * 1000 / served)


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


def check_polls(port, cursors) -> str:
    """Each poll kind answers exactly its count; returns their answers' sizes in bytes
    (the engines spell the same JSON differently)."""
    sizes = []
    for n in (0, 1, TAIL):
        body = http_get(port, f"/api/messages?for=reader-0&since={cursors[0][n]}&limit={TAIL}")
        got = len(json.loads(body))
        if got != n:
            raise SystemExit(f"poll {n} answered {got} messages")
        sizes.append(str(len(body)))
    return "/".join(sizes)


def plan(args) -> tuple[list[Setup], list[str]]:
    """The setups to run, base before this checkout's, and the configs the base
    cannot run (a checkout from before PostgreSQL support)."""
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    configs = [(engine, processes) for engine in engines
               for processes in (args.processes if engine == "postgres" else [1])]
    setups, no_base = [], []
    for engine, processes in configs:
        if args.base and (engine == "sqlite" or databases.speaks_postgres(args.base)):
            setups.append(Setup(engine, processes, "base", args.base))
        elif args.base:
            no_base.append(Setup(engine, processes, "", None).config)
        setups.append(Setup(engine, processes, "", None))
    return setups, no_base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="every kind is measured in turn this many times")
    parser.add_argument("--clients", default="4,16", help="keep-alive connections, comma list")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--processes", default="1,2",
                        help="relay processes on one PostgreSQL database, comma list")
    parser.add_argument("--pg", default=databases.PG_ADMIN,
                        help="a PostgreSQL server's URL where CREATE DATABASE works")
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--skip-large", action="store_true",
                        help="no poll latency with --large messages stored")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--base", metavar="DIR",
                        help="also run the relay package found in DIR (another checkout), "
                             "kind by kind beside this one: a fair before/after on a machine "
                             "whose load drifts")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.processes = [int(p) for p in args.processes.split(",")]
    args.workdir = tempfile.mkdtemp(prefix="relay-bench-")
    try:
        run(args, *plan(args))
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


def start(setup: Setup, args, stack: ExitStack, count: int, readers: int, processes: int):
    """A database seeded with `count` messages and `processes` relays on it;
    all are stopped and dropped when `stack` closes. Returns the highest id."""
    setup.url = stack.enter_context(databases.fresh(
        setup.engine, args.workdir, f"{setup.label}{setup.engine}{setup.processes}-{count}",
        args.pg))
    latest = seed(setup.url, count, readers, setup.source)
    setup.relays = []
    for _ in range(processes):
        relay = start_relay(setup.url, setup.source, RELAY_SYNCHRONOUS=args.synchronous)
        stack.callback(stop, relay[0])
        setup.relays.append(relay)
    return latest


def run(args, setups, no_base):
    # Every server runs side by side and is measured in turn, round after round:
    # this machine's speed drifts over a minute (and other work shares it), so
    # every kind is measured right after a bare run and compared with that one.
    # The median round is reported.
    results, small, crossing, sizes = {}, {}, {}, {}
    with ExitStack() as stack:
        for s in setups:
            start(s, args, stack, 10_000, READERS, s.processes)
            s.cursors = reader_cursors(s.url)
            sizes[s.engine] = check_polls(s.ports[0], s.cursors)
        bare = start_bare()
        stack.callback(stop, bare[0])
        # results[key, clients, kind]: one tuple per round; relay rows pair each
        # round with the bare run measured right before it.
        for _ in range(args.rounds):
            for clients in args.clients:
                for kind in KINDS[1:]:
                    b = measure([bare], "", requests_for("bare", {}), args.seconds, clients)
                    results.setdefault(("bare", clients, "bare"), []).append((b, b))
                    for s in setups:
                        r = measure(s.relays, s.url, requests_for(kind, s.cursors),
                                    args.seconds, clients)
                        results.setdefault((key(s), clients, kind), []).append((r, b))
        for s in setups:
            latest = json.loads(http_get(s.ports[0], "/api/messages/cursor"))["latestId"]
            small[key(s)] = poll_latency(s.ports[0], latest)
            if s.processes > 1:
                crossing[key(s)] = event_latency(s.ports[0], s.ports[1])

    large, seed_seconds = {}, {}
    for s in setups if not args.skip_large else []:
        # Once per engine and checkout: one process answers a sequential poll alike.
        if any(k[0] == s.engine and k[2] == s.label for k in large):
            continue
        with ExitStack() as stack:
            started = time.monotonic()
            cursor = start(s, args, stack, args.large, 0, 1)
            seed_seconds[s.engine] = time.monotonic() - started
            large[key(s)] = poll_latency(s.ports[0], cursor)
    report(args, setups, no_base, results, sizes, small, large, seed_seconds, crossing)


def key(s: Setup) -> tuple:
    return s.engine, s.processes, s.label


def report(args, setups, no_base, results, sizes, small, large, seed_seconds, crossing):
    print(f"{args.rounds} rounds of {args.seconds:g} s per figure, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, synchronous={args.synchronous} (SQLite); "
          "medians over rounds; poll N answers N messages (poll 0/1/50: "
          f"{'; '.join(f'{e} {b} B' for e, b in sizes.items())}); server CPU: the relay "
          "processes' and, on PostgreSQL, the backends serving its database")
    base_col = "  x base" if args.base else ""
    for clients in args.clients:
        print(f"\n{clients} keep-alive clients           req/s    x bare  (rounds)       "
              f"{base_col}    p50 ms  p99 ms  p99/p50  server CPU ms/req (x bare)  "
              "client CPU ms/req")
        row("bare", results["bare", clients, "bare"], "")
        for kind in KINDS[1:]:
            for s in setups:
                rounds = results[key(s), clients, kind]
                versus = ""
                if args.base and s.label == "":
                    versus = over_base(rounds, results.get(
                        ((s.engine, s.processes, "base"), clients, kind)))
                row(f"{s.label + ' ' if s.label else ''}{kind}, {s.config}", rounds, versus)
    for s in setups:
        name = f"{s.label + ' ' if s.label else ''}{s.config}"
        figures = [("10 000", small[key(s)])]
        one = " (one process answering)" if s.processes > 1 else ""
        if key(s) in large:
            figures.append((f"{args.large:,}".replace(",", " "), large[key(s)]))
        for count, (p50, p99) in figures:
            print(f"{name}: poll latency, {count} messages{one}: p50 {p50:.2f} ms  "
                  f"p99 {p99:.2f} ms")
        if key(s) in large:
            print(f"{name}: large / small: p50 {large[key(s)][0] / small[key(s)][0]:.2f}  "
                  f"p99 {large[key(s)][1] / small[key(s)][1]:.2f}")
        if key(s) in crossing:
            p50, p99 = crossing[key(s)]
            print(f"{name}: event latency, a send on one process to an SSE stream on another: "
                  f"p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    for engine, seconds in seed_seconds.items():
        count = f"{args.large:,}".replace(",", " ")
        print(f"({count} messages seeded on {engine} in {seconds:.0f} s)")
    if no_base:
        print(f"base ({args.base}) has no PostgreSQL support: no base rows for "
              f"{', '.join(no_base)} ('x base' n/a)")


def over_base(rounds, base) -> str:
    """The "x base" column: this checkout's requests/s over base's, round by round."""
    if base is None:
        return "     n/a"
    return f"  {statistics.median(r[0] / o[0] for (r, _), (o, _) in zip(rounds, base)):6.2f}"


def row(name, rounds, versus):
    """One printed line: `rounds` is [(relay figures, the bare figures just before)]."""
    ratios = [r[0] / b[0] for r, b in rounds]
    cpu_ratios = [b[3] / r[3] for r, b in rounds]
    figures = [r for r, _ in rounds]
    p50 = statistics.median(r[1] for r in figures)
    p99 = statistics.median(r[2] for r in figures)
    print(f"  {name:30} {statistics.median(r[0] for r in figures):7.0f}   "
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

"""Search latency: GET /api/messages/search over 100 000 and 1 000 000 messages.

Each size fills a temporary database through the store (store.messages.send,
so the search index is kept by its triggers as in production), in batches of
one transaction each, then starts the relay on it and times sequential
searches of a few kinds (a common word, a rare word, a phrase, `or`, a
negation, a prefix, and a common word scoped by `for`), each repeated:

    .venv/bin/python bench/search.py [--sizes 100000,1000000] [--repeat 100]

Bodies are 8-30 words drawn from a 5 000-word vocabulary with a Zipf-like
skew (word k about 1/k as frequent as the first), subjects 3-6 words;
addresses are 100 agents, a tenth of them tag groups, 1% broadcasts. Sizes
are capped at 2 000 000 (about 1 GB of database); the temporary directory
is removed at the end.
"""
import argparse
import http.client
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import percentile, start_relay, stop  # noqa: E402
from relay import db  # noqa: E402
from relay.store import messages  # noqa: E402

AGENTS = 100
VOCABULARY = 5000
MAX_SIZE = 2_000_000
BATCH = 10_000
# word0 is the commonest word, word4999 among the rarest.
QUERIES = {
    "common word": "word1",
    "rare word": "word4321",
    "two words": "word3 word40",
    "phrase": '"word2 word3"',
    "or": "word700 or word900",
    "negation": "word5 -word6",
    "prefix": "word12*",
    "common, for=": ("word1", "agent-7"),
}


def words(rng, weights, n):
    return " ".join(rng.choices(VOCAB, cum_weights=weights, k=n))


VOCAB = [f"word{k}" for k in range(VOCABULARY)]


def fill(path: str, count: int) -> float:
    """`count` messages through the store; the seconds it took."""
    db.init(path)
    conn = db.connect(path, "NORMAL")
    now = int(time.time() * 1000)
    with db.transaction(conn):
        conn.executemany(
            "INSERT INTO agents (id, name, tags, status, instance_id, last_seen, created_at, "
            "updated_at) VALUES (?, ?, ?, 'online', 'seed', ?, ?, ?)",
            [(f"agent-{i}", f"agent-{i}", f'["t{i % 10}"]', now, now, now) for i in range(AGENTS)])
    rng = random.Random(11)
    cumulative, total = [], 0.0
    for k in range(VOCABULARY):
        total += 1 / (k + 1)
        cumulative.append(total)
    started = time.monotonic()
    for start in range(0, count, BATCH):
        with db.transaction(conn):
            for _ in range(min(BATCH, count - start)):
                roll = rng.random()
                to = ("broadcast" if roll < 0.01 else f"tag:t{rng.randrange(10)}" if roll < 0.1
                      else f"agent-{rng.randrange(AGENTS)}")
                messages.send(conn, {"from": f"agent-{rng.randrange(AGENTS)}", "to": to,
                                     "subject": words(rng, cumulative, rng.randint(3, 6)),
                                     "body": words(rng, cumulative, rng.randint(8, 30))}, now)
    conn.close()
    return time.monotonic() - started


def time_searches(port: int, repeat: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    results = {}
    for name, query in QUERIES.items():
        q, agent = query if isinstance(query, tuple) else (query, None)
        params = {"q": q, **({"for": agent} if agent else {})}
        path = "/api/messages/search?" + urllib.parse.urlencode(params)
        latencies, hits = [], 0
        for i in range(repeat + 1):
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status} {body[:200]!r}")
            if i:                        # the first one warms the page cache
                latencies.append(time.perf_counter() - t)
            hits = body.count(b'"snippet"')
        results[name] = (percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000,
                         hits)
    conn.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=100, help="searches per query kind")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(not 0 < s <= MAX_SIZE for s in sizes):
        raise SystemExit(f"sizes must be between 1 and {MAX_SIZE}")
    print(f"{os.cpu_count()} cores; default limit 20 hits; {args.repeat} sequential searches "
          "per kind, one client")
    for size in sizes:
        tmp = tempfile.mkdtemp(prefix="relay-search-bench-")
        try:
            path = os.path.join(tmp, "relay.db")
            seconds = fill(path, size)
            mib = os.path.getsize(path) / 2**20
            print(f"\n{size:,} messages (filled through the store in {seconds:.0f} s, "
                  f"{mib:.0f} MiB)", flush=True)
            print(f"  {'query':<14} {'p50 ms':>8} {'p99 ms':>8} {'hits':>5}")
            proc, port = start_relay(path)
            try:
                for name, (p50, p99, hits) in time_searches(port, args.repeat).items():
                    print(f"  {name:<14} {p50:8.2f} {p99:8.2f} {hits:5d}", flush=True)
            except OSError as error:
                raise SystemExit(f"{error}; the relay's exit status: {proc.poll()}") from None
            finally:
                stop(proc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

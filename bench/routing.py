"""pool: sends and channel events beside direct sends, with 10 and with 200
pool members, in one run on this machine (ratios to direct send per round):

    .venv/bin/python bench/routing.py [--seconds 3] [--rounds 3] [--clients 4]
"""
import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import cpu_seconds, start_relay, stop  # noqa: E402

MEMBERS = 200
SMALL = 10
BODY = "x" * 200
# name -> (method, path template, body); {w} is the client, {i} its request count.
KINDS = {
    "direct send": ("POST", "/api/messages", {"from": "bench-{w}", "to": "agent-{a}", "body": BODY}),
    "pool: send, 10 members": ("POST", "/api/messages", {"from": "bench-{w}", "to": "pool:small",
                                                         "body": BODY}),
    "pool: send, 200 members": ("POST", "/api/messages", {"from": "bench-{w}", "to": "pool:big",
                                                          "body": BODY}),
    "pool: send, 200, least-recent": ("POST", "/api/messages", {"from": "bench-{w}",
                                                                "to": "pool:big-lr", "body": BODY}),
    "channel event, 10 members": ("POST", "/api/channels/bench:small/events", {"body": BODY}),
    "channel event, 200 members": ("POST", "/api/channels/bench:big/events", {"body": BODY}),
}


def worker(port, kind, seconds, index, results):
    method, path, template = KINDS[kind]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        body = {k: v.format(w=index, a=(index * 7 + count) % MEMBERS) for k, v in template.items()}
        conn.request(method, path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise SystemExit(f"{kind}: HTTP {response.status}")
        count += 1
    results.put(count)


def measure(server, port, kind, seconds, clients):
    """(requests/s, server CPU ms per request)."""
    before = cpu_seconds(server.pid)
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, kind, seconds, i, results))
             for i in range(clients)]
    for p in procs:
        p.start()
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    rps = total / seconds
    return rps, (cpu_seconds(server.pid) - before) * 1000 / max(total, 1)


def call(port, method, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"setup {method} {path}: HTTP {response.status} {data!r}")


def setup(port):
    """200 agents in pool big (and big-lr), the first 10 of them also in pool small;
    100 agents outside both; one channel bound to each pool (exclusive)."""
    for i in range(MEMBERS):
        tags = ["big"] + (["small"] if i < SMALL else [])
        call(port, "POST", "/api/agents", {"id": f"agent-{i}", "tags": tags})
    for i in range(100):
        call(port, "POST", "/api/agents", {"id": f"other-{i}", "tags": ["other"]})
    call(port, "PUT", "/api/pools/small", {"selector": {"tags": ["small"]}})
    call(port, "PUT", "/api/pools/big", {"selector": {"tags": ["big"]}})
    call(port, "PUT", "/api/pools/big-lr", {"selector": {"tags": ["big"]},
                                            "strategy": "least-recent"})
    for size in ("small", "big"):
        call(port, "POST", f"/api/channels/bench:{size}/bindings",
             {"target": {"type": "pool", "id": size}})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    path = os.path.join(tempfile.mkdtemp(prefix="relay-bench-"), "routing.db")
    relay, port = start_relay(path)
    rounds = []
    try:
        setup(port)
        for _ in range(args.rounds):
            rounds.append({kind: measure(relay, port, kind, args.seconds, args.clients)
                           for kind in KINDS})
    finally:
        stop(relay)
    print(f"clients: {args.clients} keep-alive processes, {args.rounds} rounds of "
          f"{args.seconds:g} s each, {os.cpu_count()} cores; 300 agents registered")
    for kind in KINDS:
        ratios = [r[kind][0] / r["direct send"][0] for r in rounds]
        print(f"{kind:30} {statistics.median(r[kind][0] for r in rounds):7.0f} req/s   "
              f"{statistics.median(ratios):.2f} x direct   (rounds: "
              + " ".join(f"{x:.2f}" for x in ratios) + ")   server CPU "
              f"{statistics.median(r[kind][1] for r in rounds):.3f} ms/req")


if __name__ == "__main__":
    main()

"""Fan-out: N subscribers (SSE, then WebSocket) while one publisher sends
1 000 messages through POST /api/messages. Prints delivery latency p50/p99,
events delivered per second, the server's RSS and CPU per event delivered
(steadier than the rest where the machine is shared), and how many events arrived
of the N x messages expected, at each N; exits 1 when any row fell short.

    .venv/bin/python bench/streams.py [--messages 1000] [--subscribers 1,50,200,500]
        [--db sqlite|postgres] [--pg URL] [--base DIR]

--db postgres runs the relay on a PostgreSQL database of its own (made on
--pg's server, default postgresql://postgres@127.0.0.1:5432/postgres, and
dropped after); CPU per event then counts the database's server processes
too. With --base DIR the relay package found in DIR runs beside this one,
row by row; a base from before PostgreSQL support runs on SQLite only, so on
postgres its rows are left out (the output says so).
"""
import argparse
import http.client
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import databases  # noqa: E402
from bench.common import init_schema, percentile, rss_mib, start_relay, stop  # noqa: E402


# A row ends once no event has arrived for this long after the last was sent.
QUIET = 20


BODY = b'"body": "'          # each event's send time is its message body


def masked(opcode: int, payload: bytes) -> bytes:
    """A client's WebSocket frame (small payloads only): clients must mask."""
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


class Subscriber:
    """One stream over a raw socket; feed() turns bytes into send timestamps.

    It reads as little as it can (the body field of each event, found in
    the bytes; WebSocket frames parsed by hand), so that one client process
    can keep up with hundreds of streams: the figures are the server's.
    """

    def __init__(self, port: int, mode: str):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.mode = mode
        self.buffer = b""
        self.ready = self.upgraded = False
        if mode == "sse":
            self.sock.sendall(b"GET /api/events?types=message.new HTTP/1.1\r\n"
                              b"Host: localhost\r\n\r\n")
        else:
            self.sock.sendall(b"GET /api/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        self.sock.setblocking(False)

    def feed(self, data: bytes) -> list[float]:
        return self._sse(data) if self.mode == "sse" else self._ws(data)

    def _sse(self, data: bytes) -> list[float]:
        # Only whole lines: a data line holds one event's JSON, with no newline in it.
        self.buffer += data
        end = self.buffer.rfind(b"\n") + 1
        block, self.buffer = self.buffer[:end], self.buffer[end:]
        if not self.ready and b": connected" in block:
            self.ready = True
        return stamps(block)

    def _ws(self, data: bytes) -> list[float]:
        buf = self.buffer + data
        if not self.upgraded:
            head, found, buf = buf.partition(b"\r\n\r\n")
            if not found:
                self.buffer = head
                return []
            assert head.startswith(b"HTTP/1.1 101"), head[:80]
            self.upgraded = True
            frame = {"type": "subscribe", "types": ["message.new"], "id": "s"}
            self.sock.sendall(masked(0x1, json.dumps(frame).encode()))
        found, pos, size = [], 0, len(buf)
        while size - pos >= 2:
            opcode, length, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = buf[pos + head:pos + head + length]
            pos += head + length
            if opcode == 0x1:
                if b'"type": "ack"' in payload:
                    self.ready = True
                found += stamps(payload)
            elif opcode == 0x9:
                self.sock.sendall(masked(0xA, payload))         # pong
        self.buffer = buf[pos:]
        return found


def stamps(data: bytes) -> list[float]:
    found, pos = [], 0
    while (start := data.find(BODY, pos)) >= 0:
        pos = data.index(b'"', start + len(BODY))
        found.append(float(data[start + len(BODY):pos]))
    return found


def run(port: int, pid: int, url: str, mode: str, count: int, messages: int,
        rate: float = 0) -> dict:
    selector = selectors.DefaultSelector()
    subscribers = [Subscriber(port, mode) for _ in range(count)]
    for s in subscribers:
        selector.register(s.sock, selectors.EVENT_READ, s)
    latencies, done = [], threading.Event()
    expected = count * messages

    dropped = []

    def read():
        while len(latencies) < expected and not done.is_set():
            for key, _ in selector.select(0.5):
                try:
                    data = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError:         # reset by the server: that stream is over
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    dropped.append(key.data)
                    continue
                received_at = time.time()
                latencies.extend(received_at - sent for sent in key.data.feed(data))

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 60
    while not all(s.ready for s in subscribers):
        if time.monotonic() > deadline:
            ready = sum(s.ready for s in subscribers)
            raise SystemExit(f"{mode}: only {ready} of {count} subscribed")
        time.sleep(0.05)

    conn = http.client.HTTPConnection("127.0.0.1", port)
    cpu_before = databases.server_cpu([pid], url)
    started = time.time()
    for i in range(messages):
        if rate:
            time.sleep(max(0.0, started + i / rate - time.time()))
        body = json.dumps({"from": "bench", "to": "target", "body": repr(time.time())})
        conn.request("POST", "/api/messages", body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
    # Wait while events keep arriving; a row that stops short is reported, not waited out.
    seen, quiet_since = len(latencies), time.monotonic()
    while reader.is_alive() and time.monotonic() - quiet_since < QUIET:
        reader.join(0.5)
        if len(latencies) != seen:
            seen, quiet_since = len(latencies), time.monotonic()
    done.set()
    reader.join()
    finished = time.time()
    cpu = databases.cpu_since(cpu_before, databases.server_cpu([pid], url))
    rss = rss_mib(pid)
    for s in subscribers:
        if s not in dropped:
            selector.unregister(s.sock)
        s.sock.close()
    ms = [x * 1000 for x in latencies] or [0]
    return {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99),
            "rate": len(latencies) / (finished - started), "rss": rss,
            "delivered": len(latencies), "expected": expected, "dropped": len(dropped),
            "cpu_us": cpu * 1e6 / max(1, len(latencies))}


def wait_for_idle_streams(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health") as r:
            streams = json.loads(r.read())["streams"]
        if streams["sse"] == streams["ws"] == 0:
            return
        time.sleep(0.2)


def start(args, sizes, stack: ExitStack, label: str, source=None):
    """A relay on a fresh database with the agent the publisher writes to; it is
    stopped and its database dropped when `stack` closes."""
    url = stack.enter_context(
        databases.fresh(args.db, args.workdir, f"streams{label.strip()}", args.pg))
    init_schema(url, source)
    # Every subscriber connects from this one address: no per-client caps (an older
    # base ignores the settings it does not know).
    proc, port = start_relay(url, source, RELAY_THREADS=str(max(sizes) + 40), RELAY_KEEPALIVE="1",
                             RELAY_MAX_STREAMS_PER_CLIENT="0",
                             RELAY_MAX_CONNECTIONS_PER_CLIENT="0")
    stack.callback(stop, proc)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/api/agents", body=json.dumps({"id": "target"}),
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
    return label, proc, port, url


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--subscribers", default="1,50,200,500")
    parser.add_argument("--rate", type=float, default=0,
                        help="messages per second (default 0: each as soon as the last is "
                             "answered)")
    parser.add_argument("--modes", default="sse,ws")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--pg", default=databases.PG_ADMIN,
                        help="a PostgreSQL server's URL where CREATE DATABASE works")
    parser.add_argument("--base", metavar="DIR",
                        help="also run the relay package found in DIR (e.g. a `git archive` of "
                             "the base commit), row by row beside this one: a fair before/after "
                             "on a machine whose load drifts")
    args = parser.parse_args()
    sizes = [int(n) for n in args.subscribers.split(",")]
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as args.workdir, ExitStack() as stack:
        short = measure(args, sizes, stack)
    if short:
        print("FAILED: events lost in " + "; ".join(short), file=sys.stderr)
        sys.exit(1)


def measure(args, sizes, stack: ExitStack) -> list[str]:
    """Prints the table; returns the rows that fell short."""
    base = args.base and (args.db == "sqlite" or databases.speaks_postgres(args.base))
    servers = [start(args, sizes, stack, label, source)
               for label, source in ([("base ", args.base)] if base else []) + [("", None)]]
    short = []
    print(f"idle server RSS {rss_mib(servers[-1][1].pid):.0f} MiB; {args.messages} messages "
          f"per run{f' at {args.rate:g}/s' if args.rate else ''}; {os.cpu_count()} cores; "
          f"{args.db}")
    if args.base and not base:
        print(f"base ({args.base}) has no PostgreSQL support: no base rows")
    width = 10 if base else 5
    print(f"{'mode':{width}} {'N':>4} {'p50 ms':>9} {'p99 ms':>9} {'events/s':>10} {'RSS MiB':>8} "
          f"{'CPU us/ev':>9} {'delivered/expected':>20}")
    for mode in args.modes.split(","):
        for count in sizes:
            for label, proc, port, url in servers:
                result = run(port, proc.pid, url, mode, count, args.messages, args.rate)
                tally = f"{result['delivered']}/{result['expected']}"
                mark = "" if result["delivered"] == result["expected"] else \
                    f"  SHORT ({result['dropped']} of {count} streams closed by the server)"
                print(f"{label + mode:{width}} {count:4d} {result['p50']:9.1f} "
                      f"{result['p99']:9.1f} {result['rate']:10.0f} {result['rss']:8.0f} "
                      f"{result['cpu_us']:9.0f} {tally:>20}{mark}", flush=True)
                if mark:
                    short.append(f"{label}{mode} N={count}: {tally}")
                wait_for_idle_streams(port)
    return short


if __name__ == "__main__":
    main()

"""A load generator like `wrk -t1 -cN`: N keep-alive connections driven by
one thread over selectors, each sending its next request as soon as the
last answer is in.

One process with a non-blocking loop costs the client a few tens of
microseconds per request, a small fraction of what the server spends, so
the client leaves the server the other core; N client processes would
take the server's CPU instead (16 of them on 2 cores is what the server
would then be measured against).
"""
import selectors
import socket
import time


def request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Connection:
    def __init__(self, port: int, requests: list[bytes], offset: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.requests, self.next = requests, offset
        self.buffer, self.started = b"", 0.0

    def send(self) -> None:
        data = self.requests[self.next % len(self.requests)]
        self.next += 1
        self.buffer, self.started = b"", time.perf_counter()
        self.sock.sendall(data)       # small: the socket buffer takes it at once

    def receive(self) -> int | None:
        """The answer's status once it is complete, else None."""
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("the server closed a keep-alive connection")
        self.buffer += chunk
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[:end].lower()
        start = head.find(b"content-length:")
        if start < 0:
            raise SystemExit("an answer without Content-Length")
        length = int(head[start + 15:head.find(b"\r\n", start)])
        if len(self.buffer) < end + 4 + length:
            return None
        return int(self.buffer[9:12])


def run(ports: list[int], requests: list[bytes], seconds: float, clients: int):
    """(answers per second, latencies in seconds, statuses other than 2xx); the
    connections are dealt out over `ports` (several relays on one database) in turn."""
    selector = selectors.DefaultSelector()
    connections = [Connection(ports[i % len(ports)], requests, i * 7) for i in range(clients)]
    for c in connections:
        selector.register(c.sock, selectors.EVENT_READ, c)
        c.send()
    latencies, failures = [], []
    began = time.perf_counter()
    deadline = began + seconds
    while True:
        for key, _ in selector.select(1.0):
            c = key.data
            status = c.receive()
            if status is None:
                continue
            now = time.perf_counter()
            latencies.append(now - c.started)
            if status >= 300:
                failures.append(status)
            if now < deadline:
                c.send()
            else:
                selector.unregister(c.sock)
                c.sock.close()
        if not selector.get_map():
            break
    return len(latencies) / (time.perf_counter() - began), latencies, failures

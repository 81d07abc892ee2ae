"""Connections under attack (issue 20, points 2, 3 and 7), against a real
waitress server on loopback: idle and slowloris sockets cannot lock out
/api/health, an oversize body is refused as it arrives, one client cannot
take every stream slot. Other clients are other loopback addresses
(127.0.0.2, ...: the whole 127/8 is this machine). Every loop is bounded."""
import json
import os
import socket
import tempfile


def connect(port, source="127.0.0.1", timeout=10):
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def health(port, source="127.0.0.1") -> int:
    with connect(port, source) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return int(sock.recv(4096).split(b" ", 2)[1])


def closed_by_server(sock) -> bool:
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def closed_once(socks, expected: int) -> list:
    """The sockets the server has closed, looked at until `expected` of them
    are (each look waits up to the sockets' timeout; bounded)."""
    closed = []
    for _ in range(100):
        closed += [sock for sock in socks if sock not in closed and closed_by_server(sock)]
        if len(closed) >= expected:
            break
    return closed


def answer(sock) -> tuple[int, dict]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, raw
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_1100_idle_connections_do_not_lock_out_health(live_factory):
    live = live_factory()
    held = []
    try:
        # Eleven clients of a hundred idle sockets each: past the connection limit (1000).
        for i in range(1100):
            try:
                held.append(connect(live.port, f"127.0.0.{2 + i // 100}", timeout=5))
            except OSError:
                pass               # a full backlog while the server sheds idle ones
        assert health(live.port) == 200
        assert health(live.port, "127.0.1.1") == 200
    finally:
        for sock in held:
            sock.close()


def test_one_client_holds_at_most_its_connections(live_factory):
    live = live_factory(max_connections_per_client=20)
    held = [connect(live.port, "127.0.0.2", timeout=0.05) for _ in range(30)]
    try:
        closed = closed_once(held, 10)
        assert len(closed) == 10
        assert not any(closed_by_server(sock) for sock in held if sock not in closed)
        assert live.server.waitress.relay_limits.clients.get("127.0.0.2") == 20
        assert health(live.port) == 200
        kept = next(sock for sock in held if sock not in closed)
        kept.settimeout(10)
        kept.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert answer(kept)[0] == 200
    finally:
        for sock in held:
            sock.close()


def test_a_slowloris_client_is_cut_off_and_health_answers(live_factory):
    live = live_factory(read_timeout=1)
    slow = [connect(live.port, f"127.0.0.{2 + i % 5}", timeout=0.2) for i in range(50)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n")
        open_ = list(slow)
        for round_ in range(100):                  # a header line every ~0.2 s, bounded
            assert health(live.port) == 200
            still = []
            for sock in open_:
                try:
                    sock.sendall(b"X-Slow: %d\r\n" % round_)
                    if not closed_by_server(sock):
                        still.append(sock)
                except OSError:
                    pass                           # reset by the server
            open_ = still
            if not open_:
                break
        assert open_ == []
    finally:
        for sock in slow:
            sock.close()


def temp_files() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(tempfile.gettempdir() + "/#") or target.endswith("(deleted)"):
            found.append(target)
    return found


def test_a_200_mb_body_is_refused_before_it_is_read(live_factory):
    live = live_factory()
    before = temp_files()
    with connect(live.port) as sock:
        sock.sendall(b"PATCH /api/commands/cmd_x HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n")
        assert answer(sock) == (413, {"error": "request body is larger than 1048576 bytes"})
    # Chunked, with no length to judge by: refused once the limit is passed.
    sent = 0
    with connect(live.port) as sock:
        sock.sendall(b"PATCH /api/commands/cmd_x HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        try:
            for _ in range(200 * 16):              # 200 MiB at most
                sock.sendall(chunk)
                sent += len(chunk)
                assert temp_files() == before
        except OSError:
            pass                                   # the server answered and closed
        assert sent < 64 * 2**20
        assert answer(sock) == (413, {"error": "request body is larger than 1048576 bytes"})
    assert health(live.port) == 200


def sse_status(port, source, path="/api/events") -> tuple[int, socket.socket]:
    sock = connect(port, source)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    head = b""
    while b"\r\n" not in head:
        head += sock.recv(4096)
    return int(head.split(b" ", 2)[1]), sock


def test_one_client_holds_at_most_its_stream_slots(live_factory):
    live = live_factory(max_streams=10, max_streams_per_client=3, keepalive=30)
    live.request("POST", "/api/agents", {"id": "a"})
    streams = []
    try:
        for _ in range(3):
            status, sock = sse_status(live.port, "127.0.0.2")
            streams.append(sock)
            assert status == 200
        status, sock = sse_status(live.port, "127.0.0.2")
        streams.append(sock)
        assert status == 503
        status, sock = sse_status(live.port, "127.0.0.2", "/api/messages?for=a&wait=5")
        streams.append(sock)
        assert status == 503
        # Everyone else still gets streams.
        for source in ("127.0.0.1", "127.0.0.3"):
            status, sock = sse_status(live.port, source)
            streams.append(sock)
            assert status == 200
        assert health(live.port) == 200
    finally:
        for sock in streams:
            sock.close()


def test_the_per_client_refusal_says_why(client, relay_):
    relay_.slots.per_client = 1
    assert relay_.slots.acquire("sse", "127.0.0.1") is None
    r = client.get("/api/events")
    assert (r.status_code, r.get_json()) == (503, {
        "error": "this client already holds 1 streams (RELAY_MAX_STREAMS_PER_CLIENT); close one "
                 "first"})
    assert r.headers["Retry-After"] == "2"

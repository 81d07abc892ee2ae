"""GET /api/events and /api/ws under pressure, against a real waitress server: stalled readers
are reset and dropped within RELAY_WRITE_TIMEOUT, closed clients free their
slots within about a second, and a client leaving mid-burst is quiet."""
import json
import logging
import socket
import threading
import time

import pytest
from simple_websocket import Client
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from .sse import SSE

BODY = "x" * 60000          # a large event: a few of them fill any socket buffer


def post(live, path, body):
    status, answer = live.request("POST", path, body)
    assert status in (200, 201), answer
    return answer


def streams(live):
    return live.request("GET", "/api/health")[1]["streams"]


def wait_for(predicate, seconds):
    """True once predicate() holds, False if it never did within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def stalled_socket(live, request: bytes):
    """A client that sends its request and never reads: a small receive window."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)     # before connect: sets the window
    sock.connect(("127.0.0.1", live.port))
    sock.sendall(request)
    return sock


def drain(sock, seconds=10) -> bytes:
    """Everything the server sent, up to its close (EOF or reset)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def stalled_websocket(live):
    """A WebSocket client that subscribes to messages, then never reads again:
    its socket, and its protocol state to parse what it reads later."""
    ws = WSConnection(ConnectionType.CLIENT)
    sock = stalled_socket(live, ws.send(Request(host="localhost", target="/api/ws")))
    sock.settimeout(5)
    while not any(isinstance(e, AcceptConnection) for e in ws.events()):
        ws.receive_data(sock.recv(4096))
    sock.sendall(ws.send(TextMessage(data=json.dumps({"type": "subscribe", "types": ["message."]}))))
    return sock, ws


def publish(live, count, body=BODY):
    for i in range(count):
        post(live, "/api/messages", {"from": "z", "to": "a", "body": body, "subject": str(i)})


def publish_beside(live, kind, read, count):
    """Publish `count` large events while read() collects what a healthy
    subscriber gets: it gets all, in order, and the stalled one of `kind`
    (write timeout 1 s) is dropped, its slot freed, within the timeout plus a little."""
    received = []
    reader = threading.Thread(target=read, args=(received,))
    reader.start()
    publish(live, count)
    reader.join(60)
    assert received == [str(i) for i in range(count)]
    assert wait_for(lambda: streams(live)[kind] == 1, 1 + 2)


def test_stalled_sse_reader_is_dropped_within_the_write_timeout(live_factory):
    live = live_factory(write_timeout=1, keepalive=30, stream_queue_bytes=256 * 1024)
    post(live, "/api/agents", {"id": "a"})
    stalled = stalled_socket(live, b"GET /api/events?types=message. HTTP/1.1\r\n"
                                   b"Host: localhost\r\n\r\n")
    healthy = SSE(live.port, "/api/events?types=message.")
    healthy.frame()
    assert wait_for(lambda: streams(live)["sse"] == 2, 5)
    count = 60
    publish_beside(live, "sse", lambda received: received.extend(
        e["data"]["subject"] for _, e in healthy.events(count, 60)), count)
    data = drain(stalled)
    assert data.startswith(b"HTTP/1.1 200")
    assert data.count(b"event: message.new") < count
    healthy.close()
    stalled.close()


def test_reader_that_falls_behind_by_bytes_is_reset(live_factory):
    """Queued bytes pass RELAY_STREAM_QUEUE_BYTES while its write waits; it reads
    again before the write timeout, so it can take the reset frame."""
    live = live_factory(write_timeout=10, keepalive=30, stream_queue_bytes=65536)
    post(live, "/api/agents", {"id": "a"})
    slow = stalled_socket(live, b"GET /api/events?types=message. HTTP/1.1\r\n"
                                b"Host: localhost\r\n\r\n")
    assert wait_for(lambda: streams(live)["sse"] == 1, 5)
    publish(live, 120)      # 7 MB: more than the socket buffers (up to 4 MiB) and 64 KiB queued
    data = drain(slow)
    assert b"event: reset" in data and b'"reason": "slow consumer"' in data
    assert data.count(b"event: message.new") < 120
    assert data.endswith(b"\r\n0\r\n\r\n") or data.rstrip().endswith(b"}")
    assert wait_for(lambda: streams(live)["sse"] == 0, 2)
    slow.close()


def test_stalled_websocket_is_dropped_others_receive_everything(live_factory):
    live = live_factory(write_timeout=1, keepalive=30, stream_queue_bytes=256 * 1024)
    post(live, "/api/agents", {"id": "a"})
    stalled, _ = stalled_websocket(live)
    healthy = Client.connect(f"ws://127.0.0.1:{live.port}/api/ws")
    healthy.send(json.dumps({"type": "subscribe", "types": ["message."]}))
    assert json.loads(healthy.receive(5))["type"] == "ack"
    assert wait_for(lambda: streams(live)["ws"] == 2, 5)
    count = 60

    def read(received):
        while len(received) < count:
            raw = healthy.receive(30)
            if raw is None:
                return
            received.append(json.loads(raw)["event"]["data"]["subject"])

    publish_beside(live, "ws", read, count)
    assert drain(stalled)                    # what the buffers held, then the close
    healthy.close()
    stalled.close()


def test_websocket_that_falls_behind_by_bytes_is_reset(live_factory):
    live = live_factory(write_timeout=10, keepalive=30, stream_queue_bytes=65536)
    post(live, "/api/agents", {"id": "a"})
    slow, client = stalled_websocket(live)
    assert wait_for(lambda: streams(live)["ws"] == 1, 5)
    publish(live, 120)
    client.receive_data(drain(slow))
    frames = [json.loads(e.data) for e in client.events() if isinstance(e, TextMessage)]
    assert frames[0]["type"] == "ack"
    assert frames[-1]["event"]["type"] == "reset"
    assert frames[-1]["event"]["data"]["reason"] == "slow consumer"
    assert len(frames) < 122
    assert wait_for(lambda: streams(live)["ws"] == 0, 2)
    slow.close()


def hang_up(sock):
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def test_closed_clients_free_their_slots_within_a_second(live_factory):
    live = live_factory(keepalive=30, max_streams=6)
    post(live, "/api/agents", {"id": "a"})
    sse = [SSE(live.port) for _ in range(2)]
    assert all(s.frame() == {"comment": "connected"} for s in sse)
    websockets = [Client.connect(f"ws://127.0.0.1:{live.port}/api/ws") for _ in range(2)]
    polls = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(2)]
    for poll in polls:
        poll.sendall(b"GET /api/messages?for=a&wait=60 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert wait_for(lambda: streams(live) == {"sse": 2, "ws": 2, "poll": 2, "max": 6}, 5)
    for stream in sse:
        stream.close()
    for ws in websockets:
        ws.sock.shutdown(socket.SHUT_RDWR)      # gone without a close frame
        ws.sock.close()
    for poll in polls:
        hang_up(poll)
    assert wait_for(lambda: streams(live) == {"sse": 0, "ws": 0, "poll": 0, "max": 6}, 2)
    # The slots are really free: six new streams are served.
    again = [SSE(live.port) for _ in range(6)]
    assert [s.status for s in again] == [200] * 6
    for stream in again:
        stream.close()


@pytest.fixture
def thread_failures(monkeypatch):
    failures = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args))
    return failures


def test_websocket_closed_mid_burst_leaves_no_traceback(live_factory, caplog, thread_failures):
    caplog.set_level(logging.DEBUG)
    live = live_factory(write_timeout=2, keepalive=0.2)
    post(live, "/api/agents", {"id": "a"})
    for _ in range(3):
        ws = Client.connect(f"ws://127.0.0.1:{live.port}/api/ws")
        ws.send(json.dumps({"type": "subscribe", "types": ["message."]}))
        assert json.loads(ws.receive(5))["type"] == "ack"
        burst = threading.Thread(target=publish, args=(live, 40, "y" * 20000))
        burst.start()
        ws.receive(5)                           # the burst has begun
        # Reset, not closed: SO_LINGER 0 makes close() send RST at once.
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.sock.close()
        burst.join(30)
    assert wait_for(lambda: streams(live)["ws"] == 0, 3)
    time.sleep(0.3)                             # any late thread death would show by now
    assert thread_failures == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 0

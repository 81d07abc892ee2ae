"""Bytes onto a stream's socket: whole writes with a no-progress timeout,
non-blocking writes for the broadcaster, and the wire framing of SSE chunks
and WebSocket text frames.

A stream's socket is in timeout mode (settimeout), so its file is
non-blocking underneath: `send()` waits up to the timeout for room and then
writes what fits, and `os.write()` on its descriptor never waits at all.
"""
import os
import struct

# Keys of a request's environ shared by the server (serving.py) and the stream views.
# Set by a view: the server's task class closes the connection after the response.
CLOSE_AFTER = "relay.close_after"
# Put in by the server: a callable giving the stream its own socket (in timeout
# mode), and the client's connection, to watch for hang-ups.
STREAM_SOCKET = "relay.stream_socket"
CLIENT_SOCKET = "relay.client_socket"
# Set by the WebSocket view once the handshake is done: no HTTP answer may follow.
UPGRADED = "relay.websocket.upgraded"
# Put in by the server: the address the per-client limits count the request under
# (the forwarded client behind a trusted proxy: README "Configuration").
CLIENT_ADDRESS = "relay.client_address"


def client_address(environ) -> str:
    """The client a request's stream slots and connections are counted for."""
    return environ.get(CLIENT_ADDRESS) or environ.get("REMOTE_ADDR") or ""


class WriteTimeout(TimeoutError):
    """A write made no progress for the socket's timeout: the reader has stalled."""


def send_all(sock, data: bytes) -> None:
    """Write all of `data`; WriteTimeout when a wait for room outlasts the
    socket's timeout (each piece that goes out starts the wait again), OSError
    when the peer is gone."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except TimeoutError:
            raise WriteTimeout(f"no progress for {sock.gettimeout()} s") from None
        view = view[sent:]


def send_some(sock, data: bytes) -> int:
    """Write what fits now without waiting; how many bytes went. OSError when gone."""
    try:
        return os.write(sock.fileno(), data)
    except BlockingIOError:
        return 0


def sse_chunk(body: bytes) -> bytes:
    """One HTTP/1.1 chunk (an event stream's response is chunked)."""
    return b"%X\r\n%s\r\n" % (len(body), body)


SSE_END = b"0\r\n\r\n"


def ws_text_frame(payload: bytes) -> bytes:
    """A whole, unmasked WebSocket text frame, as a server sends it
    (RFC 6455 §5.2) when no extension was negotiated."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload

"""A WebSocket connection that several threads may write to, with a write timeout.

simple-websocket's Server (what flask-sock's route builds) encodes and sends
frames from its reader thread (pings, pongs, close replies) while our threads
send events, with no lock between them over wsproto's state or the socket:
at hundreds of subscribers that garbled frames and killed threads with
"cannot be sent in state LOCAL_CLOSING" and ConnectionResetError. Its
sends have no timeout, and it drops a client whose pong is one ping period
late, which a client busy reading a burst easily is.

RelayWebSocket keeps simple-websocket's frame handling (and its handshake,
less any extension) and changes what goes around them: one lock over every
encode-and-send, sends bounded by RELAY_WRITE_TIMEOUT, a gone or stuck
client ends the session quietly (ConnectionClosed to its threads, nothing
logged), and the reader only gives up on a client that for two ping periods
plus the write timeout has neither said anything nor had its TCP acknowledge
anything we sent: a client reading a long burst answers pings late, but is
plainly alive. (One whose program hangs while its kernel still acks is
caught by the write timeout as soon as there is something to send it.)
"""
import select
import socket
import struct
import threading
import time
from functools import wraps

from flask import Response, current_app, request
from simple_websocket import ConnectionClosed, Server
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import LocalProtocolError

from .wire import send_all, send_some

_TROUBLE = (OSError, LocalProtocolError)


def since_last_ack(sock) -> float:
    """Seconds since the peer's TCP last acknowledged something (Linux
    TCP_INFO tcpi_last_ack_recv, milliseconds at offset 56); inf if unknown."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return struct.unpack_from("I", info, 56)[0] / 1000
    except (OSError, struct.error):
        return float("inf")


class _Wire:
    """The socket as simple-websocket's own code sees it. The real socket is
    in timeout mode, where one send() may write part of a frame: here each
    send is whole, or fails."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, data) -> int:
        send_all(self.sock, data)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class RelayWebSocket(Server):
    def __init__(self, environ, ping_interval=None, max_message_size=None, write_timeout=10.0):
        self.lock = threading.RLock()
        self.write_timeout = write_timeout
        sock = environ["werkzeug.socket"]
        super().__init__({**environ, "werkzeug.socket": _Wire(sock)},
                         ping_interval=ping_interval, max_message_size=max_message_size)

    def handshake(self):
        # simple-websocket's, except that no extension is accepted: with
        # permessage-deflate every event would be compressed once per
        # connection, where plain frames are made once for all of them.
        head = b"".join(f"{'-'.join(p.capitalize() for p in key[5:].split('_'))}: {value}\r\n".encode()
                        for key, value in self.environ.items() if key.startswith("HTTP_"))
        self.ws.receive_data(b"GET / HTTP/1.1\r\n" + head + b"\r\n")
        for event in self.ws.events():
            if isinstance(event, Request):
                self.subprotocol = self.choose_subprotocol(event)
                self.sock.send(self.ws.send(AcceptConnection(subprotocol=self.subprotocol)))
                self.connected = True

    @property
    def open(self) -> bool:
        return self.connected and self.ws.state is ConnectionState.OPEN

    # --- writing (any thread) -----------------------------------------------------

    def send(self, data) -> None:
        self._send(lambda: self.ws.send(TextMessage(data=str(data))))

    def send_frames(self, data: bytes) -> None:
        """Whole frames made elsewhere (wire.ws_text_frame), in one write."""
        self._send(lambda: data)

    def _send(self, make) -> None:
        """Encode and write under the lock; ConnectionClosed once the session is over."""
        with self.lock:
            if not self.open:
                raise ConnectionClosed(self.close_reason, self.close_message)
            try:
                self._write(make())
            except LocalProtocolError:
                raise ConnectionClosed(self.close_reason, self.close_message) from None

    def send_some(self, data: bytes) -> int:
        """What of `data` (whole frames) goes out now without waiting long: 0
        when another thread is writing. OSError once the session is over."""
        # The reader holds the lock a few microseconds for a ping or a pong;
        # waiting that out beats waking the forwarder. A stuck write is not.
        if not self.lock.acquire(timeout=0.002):
            return 0
        try:
            if not self.open:
                raise BrokenPipeError("the WebSocket is closed")
            try:
                return send_some(self.sock.sock, data)
            except OSError:
                self._broken()
                raise
        finally:
            self.lock.release()

    def close(self, reason=None, message=None) -> None:
        """Send a close frame if the client can take it at once; never raises,
        never waits long (it runs at shutdown, and after a reset)."""
        if not self.lock.acquire(timeout=1):
            self._broken()                  # a write is stuck on this client: end it now
            return
        try:
            if self.open:
                try:
                    send_some(self.sock.sock, self.ws.send(CloseConnection(reason or 1000, message)))
                except (OSError, LocalProtocolError):
                    pass
            self.connected = False
        finally:
            self.lock.release()
        self.event.set()

    def _write(self, data: bytes) -> None:
        try:
            send_all(self.sock.sock, data)
        except OSError:
            self._broken()
            raise ConnectionClosed(self.close_reason, self.close_message) from None

    def end(self) -> None:
        """Ends the session for good, once its view returns. The shutdown is
        what sends the FIN: the reader's poll() holds the socket's file open,
        so closing descriptors alone would leave the connection up."""
        self.close()
        self._broken()
        self.thread.join(1)

    def _broken(self) -> None:
        """The client is gone or stuck: end the session for every thread."""
        self.connected = False
        self.event.set()
        try:
            self.sock.sock.shutdown(socket.SHUT_RDWR)   # the reader wakes with EOF
        except OSError:
            pass

    # --- reading (its own thread) ----------------------------------------------------

    def _thread(self):
        sock = self.sock.sock
        interval = self.ping_interval
        heard = time.monotonic()
        next_ping = heard + interval if interval else None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        try:
            while self.connected:
                wait = None if next_ping is None else max(0.0, next_ping - time.monotonic())
                if not poller.poll(None if wait is None else wait * 1000):
                    now = time.monotonic()
                    heard = max(heard, now - since_last_ack(sock))
                    if now - heard > 2 * interval + self.write_timeout:
                        self.close(1008, "no answer to pings")
                        break
                    with self.lock:
                        if self.open:
                            self._write(self.ws.send(Ping()))
                    next_ping = now + interval
                    continue
                try:
                    data = sock.recv(self.receive_bytes)
                except (BlockingIOError, TimeoutError):
                    continue
                if not data:
                    break
                heard = time.monotonic()
                with self.lock:
                    self.ws.receive_data(data)
                    if not self._handle_events():
                        break
        except (ConnectionClosed, *_TROUBLE):
            pass            # the client left mid-frame or reset: the session just ends
        finally:
            self.connected = False
            self.event.set()
        # The request's task closes the socket when the session's view returns.


def websocket_view(view):
    """flask-sock's route, built on RelayWebSocket: runs `view(ws)` for an
    upgraded request and closes the session quietly however it ends."""

    @wraps(view)
    def route(*args, **kwargs):
        settings = current_app.extensions["relay"].settings
        ws = RelayWebSocket(request.environ, ping_interval=settings.keepalive,
                            max_message_size=settings.max_body_bytes,
                            write_timeout=settings.write_timeout)
        try:
            view(ws, *args, **kwargs)
        except ConnectionClosed:
            pass
        finally:
            ws.end()
        return Response()

    return route

"""serve(): waitress, the WebSocket upgrade adapter, and a clean shutdown."""
import ipaddress
import json
import logging
import signal
import socket
import sys
import threading
import time

from waitress import wasyncore
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask, WSGITask

from . import db
from .app import create_app
from .db import SchemaError
from .forwarded import TrustedProxies
from .settings import ConfigError, Settings
from .wire import (CLIENT_ADDRESS, CLIENT_SOCKET, CLOSE_AFTER, SSE_END, STREAM_SOCKET, UPGRADED,
                   send_all, send_some)

log = logging.getLogger("relay")


class RelayTask(WSGITask):
    """waitress's request task, taught what streams need.

    A WebSocket upgrade gets its own socket, which simple-websocket looks for as
    `werkzeug.socket`; no HTTP bytes may follow the session on it.

    An event stream (its view sets CLOSE_AFTER) writes its body straight to
    its own socket too, once the headers are out: through waitress's buffers
    every chunk that does not flush at once wakes the main loop, which walks
    every open connection, and fan-out to hundreds of streams collapses. The
    view frames its chunks itself (the broadcaster writes some of them to
    the socket directly, broadcaster.py), so its bytes go out as they
    are. The connection is closed after the stream (WSGI apps may not send
    `Connection: close` themselves).

    That socket is in timeout mode (RELAY_WRITE_TIMEOUT): a write that makes
    no progress that long ends the stream, so a reader that stopped reading
    frees its thread and its slot instead of blocking them forever.

    The socket is a dup() of the channel's: simple-websocket closes what it is
    given, and closing waitress's own fd under its select loop kills the
    server (EBADF). waitress does not touch the channel meanwhile: it reads
    no further requests while one runs, and has nothing of its own to write.

    Any other answer leaves in one send: waitress writes the headers and the
    body separately, and each send gives up the GIL, which under load costs
    more than the bytes (about a tenth of the sends and a quarter of the polls
    per second here). The headers are held on the channel until the first
    body bytes, or the end of the task when there are none.
    """

    own_socket = None

    def take_socket(self):
        if self.own_socket is None:
            self.own_socket = self.channel.socket.dup()
            # Timeout mode keeps the shared file non-blocking, as waitress wants it.
            self.own_socket.settimeout(self.channel.server.relay_write_timeout)
            self.close_on_finish = True
        return self.own_socket

    def get_environment(self):
        environ = super().get_environment()
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            environ["werkzeug.socket"] = self.take_socket()
        environ[STREAM_SOCKET] = self.take_socket
        environ[CLIENT_SOCKET] = self.channel.socket
        # Read here: waitress clears X-Forwarded-For before the app sees it.
        environ[CLIENT_ADDRESS] = self.channel.server.relay_limits.proxies.client(
            environ.get("REMOTE_ADDR") or "", environ.get("HTTP_X_FORWARDED_FOR"))
        return environ

    def write(self, data):
        environ = self.environ or {}
        if environ.get(UPGRADED):
            self.wrote_header = True
            return
        if not environ.get(CLOSE_AFTER):
            return super().write(data)
        try:
            if not self.wrote_header:
                send_all(self.take_socket(), self.build_response_header())
                self.wrote_header = True
            if data:
                # Already chunks: build_response_header() chose chunked encoding.
                send_all(self.own_socket, data)
        except OSError:         # gone, or WriteTimeout
            raise ClientDisconnected from None

    def build_response_header(self):
        header = super().build_response_header()
        if (self.environ or {}).get(CLOSE_AFTER):
            return header                   # an event stream sends it itself, at once
        self.channel.held = header
        return b""

    def finish(self):
        if self.own_socket is not None and self.environ.get(CLOSE_AFTER) and self.wrote_header:
            try:
                # The last chunk, if it fits: a stream that ends at a reset may
                # have a stalled reader, and it is disconnected either way.
                send_some(self.own_socket, SSE_END)
            except OSError:
                pass
            self.chunked_response = False
        super().finish()
        self.channel.release_held()

    def service(self):
        # finish() is skipped when the client has gone; this cleanup is not.
        try:
            super().service()
        finally:
            self.channel.held = b""
            if self.own_socket is not None:
                try:
                    self.channel.socket.setblocking(False)
                except OSError:
                    pass
                self.own_socket.close()


class RelayErrorTask(ErrorTask):
    """waitress's own refusals (a body over RELAY_MAX_BODY_BYTES as it arrives,
    a malformed request) answered as JSON like every other error."""

    def execute(self):
        error = self.request.error
        message = (f"request body is larger than {self.channel.adj.max_request_body_size} bytes"
                   if error.code == 413 else f"{error.reason}: {error.body}")
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class RelayChannel(HTTPChannel):
    """A connection whose task's response headers wait for its first body bytes,
    and whose answers go straight to the socket when nothing waits before them.

    waitress appends an answer to the channel's buffer and then flushes it.
    While it is there the channel is writable() to the main loop, which,
    woken meanwhile by any other connection, finds the socket writable at
    once and spins (poll, handle_write, the buffer's lock busy, poll again),
    taking the GIL from the thread that is sending. With 16 clients polling
    50 messages (23 KB) that was 5.3 main-loop polls a request against 1.4
    for an empty answer. Sent directly, under the buffer's lock, an answer
    that the socket takes whole is never seen by the main loop; what the
    socket does not take is buffered as before, and the main loop sends it.
    """

    task_class = RelayTask
    error_task_class = RelayErrorTask
    held = b""
    client = None               # the address counted in server.relay_clients
    request_started = 0.0       # when the request being read began to arrive

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map)
        client = addr[0] if isinstance(addr, tuple) and addr else ""
        limits = server.relay_limits
        if limits.proxies.is_proxy(client):
            # A trusted proxy carries many clients' requests, and pools its
            # connections: they are not one client's (README "Configuration").
            return
        with limits.lock:
            held = limits.clients.get(client, 0) + 1
            limits.clients[client] = held
            self.client = client
        if limits.per_client and held > limits.per_client:
            # One client may not hold every connection (RELAY_MAX_CONNECTIONS_PER_CLIENT).
            self.handle_close()

    def received(self, data):
        if self.request is None and data:
            self.request_started = time.time()
        return super().received(data)

    def del_channel(self, map=None):
        limits = self.server.relay_limits
        with limits.lock:
            if self.client is not None:
                left = limits.clients.get(self.client, 1) - 1
                if left > 0:
                    limits.clients[self.client] = left
                else:
                    limits.clients.pop(self.client, None)
                self.client = None
        super().del_channel(map)

    def write_soon(self, data):
        if data and self.held:
            if not isinstance(data, bytes):
                self.release_held()        # a file (wsgi.file_wrapper) follows its headers
            else:
                data, self.held = self.held + data, b""
        if data and type(data) is bytes and not self.total_outbufs_len and self.connected:
            with self.outbuf_lock:
                if not self.total_outbufs_len:      # nothing buffered to go first
                    sent = self.send(data, do_close=False)     # 0 when it would block
                    if sent:
                        self.last_activity = time.time()
                        if sent == len(data):
                            return sent
                        data = data[sent:]
        return super().write_soon(data)

    def release_held(self):
        if self.held:
            held, self.held = self.held, b""
            super().write_soon(held)


class Limits:
    """Per-client connection counts, the read deadline (slowloris), and the
    trusted proxies whose X-Forwarded-For names the client."""

    def __init__(self, per_client: int, read_timeout: float,
                 proxies: TrustedProxies | None = None):
        self.per_client = per_client
        self.read_timeout = read_timeout
        self.proxies = proxies or TrustedProxies(None)
        self.clients: dict[str, int] = {}
        self.lock = threading.Lock()


def with_read_deadline(server, maintenance):
    """waitress's maintenance (idle keep-alive connections), plus: a request
    whose headers and body have not all arrived within RELAY_READ_TIMEOUT
    closes its connection (slowloris); and with three quarters of the
    connection limit open, connections idle for a second are closed, so idle
    sockets cannot keep everyone else out."""
    crowded = max(1, server.adj.connection_limit * 3 // 4)

    def run(now):
        maintenance(now)
        cutoff = now - server.relay_limits.read_timeout
        channels = list(server.active_channels.values())
        idle_cutoff = now - 1 if len(channels) >= crowded else None
        for channel in channels:
            if channel.request is not None:
                if channel.request_started < cutoff:
                    channel.will_close = True
            elif idle_cutoff is not None and not channel.requests \
                    and channel.last_activity < idle_cutoff:
                channel.will_close = True
    return run


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """The relay on waitress: run() blocks until stop() (or SIGTERM/SIGINT)."""

    def __init__(self, settings: Settings, clock=None):
        try:
            socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise ConfigError(f"cannot listen on {settings.host}: the name does not resolve "
                              f"({getattr(error, 'strerror', None) or error})") from None
        if not settings.token and not is_loopback(settings.host) and not settings.allow_no_token:
            raise ConfigError(
                f"refusing to listen on {settings.host} without a token: set AGENT_RELAY_TOKEN "
                "(or RELAY_ALLOW_NO_TOKEN=1 to accept anyone who can reach it)")
        proxies = TrustedProxies(settings.trusted_proxies)
        self.settings = settings
        self.app = create_app(settings, clock)
        self.relay = self.app.extensions["relay"]
        try:
            self.waitress = self._listen(settings)
        except (OSError, ValueError) as error:       # ValueError: waitress's host check
            self.relay.stop()
            raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: "
                              f"{getattr(error, 'strerror', None) or error}") from None
        self.waitress.channel_class = RelayChannel
        self.waitress.relay_write_timeout = settings.write_timeout      # RelayTask.take_socket
        self.waitress.relay_limits = Limits(settings.max_connections_per_client,
                                            settings.read_timeout, proxies)
        self.waitress.maintenance = with_read_deadline(self.waitress, self.waitress.maintenance)
        self._stopping = threading.Event()

    def _listen(self, settings: Settings):
        return create_server(
            self.app, host=settings.host, port=settings.port, threads=settings.threads,
            ident="relay", asyncore_use_poll=True,   # poll(): no 1024-descriptor limit
            connection_limit=max(1000, 4 * settings.threads),
            # A slow reader's unsent answer is held in memory up to this, not 16 MiB
            # (event streams write their own sockets, with a timeout: RelayTask).
            outbuf_high_watermark=256 * 1024,
            clear_untrusted_proxy_headers=True,
            # An over-limit body is refused as it arrives (RelayErrorTask answers the 413),
            # and one within it is held in memory, never spooled to a temporary file.
            max_request_body_size=settings.max_body_bytes,
            inbuf_overflow=settings.max_body_bytes + 65536,
            channel_timeout=int(max(1, settings.idle_timeout)),
            cleanup_interval=1)                 # the read deadline is checked every second

    @property
    def port(self) -> int:
        return int(self.waitress.effective_port)

    def stop(self) -> None:
        """Ask run() to stop (from a signal handler or any thread); idempotent."""
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self.waitress.pull_trigger()
            except OSError:
                pass    # run() saw the flag first and has closed the trigger already

    def run(self) -> None:
        self.relay.start()
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=1.0, use_poll=True, map=self.waitress._map, count=1)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.relay.close_streams()            # streams and held polls return at once
        self.waitress.task_dispatcher.shutdown(timeout=3)
        wasyncore.close_all(self.waitress._map)
        self.relay.stop()


def serve(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = Server(settings)
    except (ConfigError, OSError, SchemaError) as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    host = f"[{settings.host}]" if ":" in settings.host else settings.host     # IPv6
    url = f"http://{host}:{server.port}"
    print(f"relay {url} (dashboard {url}/, OpenAPI {url}/api/spec, database "
          f"{db.url_shown(settings.db)}); Ctrl-C stops it", flush=True)
    server.run()
    return 0

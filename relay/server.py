"""serve(): waitress, the WebSocket upgrade adapter, and a clean shutdown."""
import ipaddress
import logging
import os
import signal
import sys
import threading
import time

from waitress import wasyncore
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from .app import create_app
from .api.streams import CLIENT_SOCKET, CLOSE_AFTER, STREAM_SOCKET
from .api.websocket import UPGRADED
from .config import ConfigError, Settings
from .wire import SSE_END, send_all, send_some

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
    the socket directly, relay/broadcaster.py), so its bytes go out as they
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
    held = b""

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
        if not settings.token and not is_loopback(settings.host) and not settings.allow_no_token:
            raise ConfigError(
                f"refusing to listen on {settings.host} without a token: set AGENT_RELAY_TOKEN "
                "(or RELAY_ALLOW_NO_TOKEN=1 to accept anyone who can reach it)")
        self.settings = settings
        self.app = create_app(settings, clock)
        self.relay = self.app.extensions["relay"]
        try:
            self.waitress = self._listen(settings)
        except OSError as error:
            self.relay.stop()
            raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: "
                              f"{error.strerror or error}") from None
        self.waitress.channel_class = RelayChannel
        self.waitress.relay_write_timeout = settings.write_timeout      # RelayTask.take_socket
        self._stopping = threading.Event()

    def _listen(self, settings: Settings):
        return create_server(
            self.app, host=settings.host, port=settings.port, threads=settings.threads,
            ident="relay", asyncore_use_poll=True,   # poll(): no 1024-descriptor limit
            connection_limit=max(1000, 4 * settings.threads),
            # A slow reader's unsent answer is held in memory up to this, not 16 MiB
            # (event streams write their own sockets, with a timeout: RelayTask).
            outbuf_high_watermark=256 * 1024,
            clear_untrusted_proxy_headers=True)

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
    except (ConfigError, OSError) as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    url = f"http://{settings.host}:{server.port}"
    print(f"relay {url} (dashboard {url}/, OpenAPI {url}/api/spec, database "
          f"{os.path.abspath(settings.db)}); Ctrl-C stops it", flush=True)
    server.run()
    return 0

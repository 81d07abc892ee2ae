"""serve(): waitress, the WebSocket upgrade adapter, and a clean shutdown."""
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from . import create_app
from .api.streams import CLOSE_AFTER
from .api.websocket import UPGRADED
from .config import ConfigError, Settings

log = logging.getLogger("relay")


class RelayTask(WSGITask):
    """waitress's request task, taught two things streams need.

    It closes the connection after a response whose view set CLOSE_AFTER
    (an event stream: WSGI apps may not send `Connection: close` themselves).

    It hands a WebSocket upgrade its own socket, which flask-sock looks for as
    `werkzeug.socket`.

    It is a dup() of the channel's socket: simple-websocket closes what it is
    given, and closing waitress's own fd under its select loop kills the
    server (EBADF). The dup shares the file's flags, so it is made blocking
    for the WebSocket's reader thread and made non-blocking again at the end.
    """

    ws_socket = None

    def get_environment(self):
        environ = super().get_environment()
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket" and self.ws_socket is None:
            self.ws_socket = self.channel.socket.dup()
            self.ws_socket.setblocking(True)
            environ["werkzeug.socket"] = self.ws_socket
            self.close_on_finish = True
        return environ

    def write(self, data):
        # After a WebSocket session the connection is the WebSocket's: no
        # HTTP response may follow it. Before the handshake (a 401 or 503) it may.
        if self.environ is not None and self.environ.get(UPGRADED):
            self.wrote_header = True
            return
        super().write(data)

    def finish(self):
        if self.environ is not None and self.environ.get(CLOSE_AFTER):
            self.close_on_finish = True
        try:
            super().finish()
        finally:
            if self.ws_socket is not None:
                try:
                    self.channel.socket.setblocking(False)
                except OSError:
                    pass
                self.ws_socket.close()


class RelayChannel(HTTPChannel):
    task_class = RelayTask


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
        self.waitress = create_server(
            self.app, host=settings.host, port=settings.port, threads=settings.threads,
            ident="relay", asyncore_use_poll=True,   # poll(): no 1024-descriptor limit
            connection_limit=max(1000, 4 * settings.threads),
            # A stalled stream reader must reach its subscriber queue soon, not after 16 MiB.
            outbuf_high_watermark=256 * 1024,
            clear_untrusted_proxy_headers=True)
        self.waitress.channel_class = RelayChannel
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.waitress.effective_port)

    def stop(self) -> None:
        """Ask run() to stop (from a signal handler or any thread); idempotent."""
        if not self._stopping.is_set():
            self._stopping.set()
            self.waitress.pull_trigger()

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
    print(f"relay {url} (dashboard {url}/, database {os.path.abspath(settings.db)})", flush=True)
    server.run()
    return 0

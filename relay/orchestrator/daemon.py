"""The daemon: registration and heartbeats, the command intake, the session watch, the
HTTP API, and a clean stop that leaves the agents running.

Threads (each a loop whose failing step is logged and retried, never fatal):
heartbeat (every `heartbeat` s, with the roster; registers again when the relay answers
404, i.e. it restarted on a new database), stream (command events, resumed with
Last-Event-ID after a drop), sweep (the pending list every `sweep` s), watch (tmux
every `watch` s; the roster is reported when it changed), worker (runs the commands).
The roster is first reported after the sessions were adopted, and never at shutdown.
"""
import logging
import secrets
import signal
import socket
import threading
import time

from .. import __version__
from ..client import Client, RelayError, Unreachable
from . import providers as providers_mod
from .api import Api, ApiServer
from .commands import Commands
from .sessions import Sessions
from .state import State
from .tmux import Tmux

log = logging.getLogger("relay.orchestrator")


class Every(threading.Thread):
    """Call `step` now and then every `seconds` until `stop` is set; a failing step is
    logged and the loop goes on."""

    def __init__(self, name: str, seconds: float, step, stop: threading.Event):
        super().__init__(name=f"orchestrator-{name}", daemon=True)
        self.seconds, self.step, self.stop = seconds, step, stop

    def run(self):
        while not self.stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("%s failed; trying again in %s s", self.name, self.seconds)
            if self.stop.wait(self.seconds):
                return


class Daemon:
    def __init__(self, settings, client: Client | None = None, tmux: Tmux | None = None,
                 clock=time.time):
        self.settings = settings
        self.id = settings.id
        self.hostname = socket.gethostname()
        self.base_dir = settings.base_dir
        self.version = __version__
        self.client = client or Client(settings.url, settings.token)
        self.tmux = tmux or Tmux(settings.tmux_socket)
        self.providers = providers_mod.configured(settings.environ)
        self.state = State(settings.state_dir, self.id)
        self.sessions = Sessions(self.tmux, self.providers, self.state, self.base_dir,
                                 settings.prefix, self.id, self.client.url, settings.token,
                                 grace=settings.grace, clock=clock)
        self.stop_event = threading.Event()
        self.commands = Commands(self.client, self.sessions, self.state, self.stop_event,
                                 on_change=self.report)
        self.api_token = secrets.token_urlsafe(32)
        self.api = ApiServer(Api(self), settings.listen_host, settings.listen_port,
                             self.api_token)
        self.api_url = settings.api_url or f"http://{settings.listen_host}:{self.api.port}"
        self.registered = threading.Event()
        self.adopted = False
        self.report_lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.unreachable = False

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        self.sessions.watch()              # adopt: what still runs, what exited meanwhile
        self.adopted = True
        self.api.start()
        self.register_until_done()
        if self.stop_event.is_set():
            return
        self.commands.recover()
        self.commands.sweep()
        s = self.settings
        self.threads = [Every("heartbeat", s.heartbeat, self.heartbeat, self.stop_event),
                        Every("sweep", s.sweep, self.commands.sweep, self.stop_event),
                        Every("watch", s.watch, self.watch, self.stop_event),
                        threading.Thread(target=self.follow, name="orchestrator-stream",
                                         daemon=True),
                        threading.Thread(target=self.commands.work, name="orchestrator-worker",
                                         daemon=True)]
        for thread in self.threads:
            thread.start()
        log.info("orchestrator %s: base dir %s, API %s, providers offered: %s", self.id,
                 self.base_dir, self.api_url,
                 ", ".join(providers_mod.offered(self.providers)) or "none")

    def stop(self) -> None:
        """Stop the daemon; the agents' tmux sessions keep running (adopted at next start)."""
        self.stop_event.set()
        self.api.stop()
        for thread in self.threads:
            if thread.name != "orchestrator-stream":      # it may sit in a read: left to die
                thread.join(self.settings.grace + 5)

    def run(self) -> int:
        """Run until SIGTERM or SIGINT."""
        def stop(signum, _frame):
            log.info("signal %s: stopping; the agents keep running", signum)
            self.stop_event.set()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.start()
        print(f"relay orchestrator {self.id}: API on {self.api_url}, base dir {self.base_dir}",
              flush=True)
        self.stop_event.wait()
        self.stop()
        return 0

    # --- the relay -------------------------------------------------------------------

    def registration(self) -> dict:
        return {"hostname": self.hostname, "providers": providers_mod.offered(self.providers),
                "baseDir": self.base_dir, "apiUrl": self.api_url, "apiToken": self.api_token,
                "version": self.version}

    def register(self) -> None:
        orch = self.client.register_orchestrator(self.id, **self.registration())
        self.commands.target = orch["agentId"]
        self.registered.set()
        log.info("registered with %s as orchestrator %s (agent %s)", self.client.url, self.id,
                 orch["agentId"])
        self.report()

    def register_until_done(self) -> None:
        attempt = 0
        while not self.stop_event.is_set():
            try:
                return self.register()
            except Unreachable as error:
                if attempt == 0:
                    log.warning("relay unreachable, retrying: %s", error.reason)
            attempt += 1
            self.stop_event.wait(min(0.5 * attempt, 5.0))

    def heartbeat(self) -> None:
        try:
            self.client.orchestrator_heartbeat(self.id)
            self.report(force=True)
            if self.unreachable:
                log.info("relay reachable again")
                self.unreachable = False
        except RelayError as error:
            if error.status != 404:
                raise
            log.info("the relay does not know orchestrator %s: registering again", self.id)
            self.register()
        except Unreachable as error:
            if not self.unreachable:
                log.warning("relay unreachable: %s", error.reason)
            self.unreachable = True

    def watch(self) -> None:
        if self.sessions.watch():
            self.report()

    _last_roster = None

    def report(self, force: bool = False) -> None:
        """PATCH the roster when it changed (or when forced, with each heartbeat); never
        before adoption or once stopping."""
        if not self.adopted or not self.registered.is_set() or self.stop_event.is_set():
            return
        with self.report_lock:
            roster = self.sessions.roster()
            if roster == self._last_roster and not force:
                return
            try:
                self.client.orchestrator_roster(self.id, roster)
                self._last_roster = roster
            except RelayError as error:
                if error.status == 404:
                    threading.Thread(target=self.heartbeat, daemon=True).start()
                else:
                    log.warning("roster not accepted: %s", error.message)
            except Unreachable as error:
                log.debug("roster not sent: %s", error.reason)

    def follow(self) -> None:
        """Command events, for speed; the sweep covers what a dropped stream misses."""
        while not self.stop_event.is_set():
            try:
                for _id, _type, envelope in self.client.events(
                        types=["command."], stop=self.stop_event,
                        on_drop=lambda why: log.info("event stream dropped (%s): resuming",
                                                     why)):
                    data = envelope.get("data") if isinstance(envelope, dict) else None
                    self.commands.offer(data)
            except Exception as error:
                log.warning("event stream failed (%s); opening it again", error)
                self.stop_event.wait(2.0)

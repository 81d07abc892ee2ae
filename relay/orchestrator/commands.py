"""Commands from the relay, each run once: taken from the event stream and from the
pending list (at start and every sweep), so none is missed across a dropped stream or
a restart of either side.

A command is moved `accepted` (a 409 there means another run took it: not ours to run)
→ `running` → `succeeded`/`failed` with a result or an error sentence. Its outcome is
written to the state file before it is reported, so a report cut short by a restart of
either side is made again later, and a command left `accepted`/`running` by an
orchestrator that died while carrying it out is failed with that reason, never run
again. Commands run one at a time, in the order they arrive.
"""
import logging
import queue
import threading

from ..client import RelayError, Unreachable
from .sessions import CommandFailed

log = logging.getLogger("relay.orchestrator")

INTERRUPTED = "the orchestrator stopped before it finished this command"
CONFIGURED = ("claude", "codex")       # providers with a provider config on the relay


class Commands:
    def __init__(self, client, sessions, state, stop: threading.Event, on_change=None):
        self.client = client
        self.sessions = sessions
        self.state = state
        self.stop = stop
        self.on_change = on_change or (lambda: None)
        self.target = None                # the orchestrator's agent id, once registered
        self.queue: queue.Queue = queue.Queue()
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.handlers = {"agent.spawn": sessions.spawn, "agent.restart": sessions.restart,
                         "agent.shutdown": sessions.shutdown, "prompt.inject": sessions.inject}

    # --- intake ------------------------------------------------------------------------

    def offer(self, command: dict) -> None:
        """Queue a pending command for this orchestrator, once."""
        if not isinstance(command, dict) or command.get("target") != self.target \
                or command.get("status") != "pending":
            return
        with self.lock:
            if command["id"] in self.seen:
                return
            self.seen.add(command["id"])
        self.queue.put(command)

    def sweep(self) -> None:
        """The pending list: what the stream may have missed."""
        for command in self.client.commands(target=self.target, status="pending", limit=500):
            self.offer(command)

    def recover(self) -> None:
        """Commands an earlier run of this orchestrator accepted and never reported: the
        outcome it recorded, or failed as interrupted."""
        for status in ("accepted", "running"):
            for command in self.client.commands(target=self.target, status=status, limit=500):
                with self.lock:
                    if command["id"] in self.seen:
                        continue            # ours, under way in this run
                    self.seen.add(command["id"])
                outcome = self.state.done.get(command["id"]) or {"status": "failed",
                                                                 "error": INTERRUPTED}
                log.info("command %s was left %s: reporting it %s", command["id"], status,
                         outcome["status"])
                self.report(command, outcome)

    # --- running -----------------------------------------------------------------------

    def work(self) -> None:
        """The worker thread: run queued commands until stopped."""
        while not self.stop.is_set():
            try:
                command = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.run(command)
            except Exception:
                log.exception("command %s failed in the orchestrator", command.get("id"))

    def run(self, command: dict) -> None:
        try:
            self.client.patch_command(command["id"], "accepted")
        except RelayError as error:
            if error.status in (404, 409):
                log.info("command %s is not ours to run: %s", command["id"], error.message)
                return
            raise
        except Unreachable:
            with self.lock:
                self.seen.discard(command["id"])      # the next sweep offers it again
            return
        self.patch(command["id"], "running")
        outcome = self.execute(command)
        self.state.finished(command["id"], outcome)
        self.on_change()
        self.report(command, outcome)

    def execute(self, command: dict) -> dict:
        kind = command["type"]
        handler = self.handlers.get(kind)
        if handler is None:
            return {"status": "failed", "error": f"unsupported command type {kind}"}
        params = command.get("params") or {}
        try:
            result = handler(params, config=self.provider_config(kind, params),
                             command_id=command["id"])
        except CommandFailed as error:
            log.info("command %s (%s) failed: %s", command["id"], kind, error)
            return {"status": "failed", "error": str(error)[:2000]}
        except Exception as error:
            log.exception("command %s (%s) failed", command["id"], kind)
            return {"status": "failed", "error": f"{kind} failed: {error}"[:2000]}
        log.info("command %s (%s) succeeded: %s", command["id"], kind, result)
        return {"status": "succeeded", "result": result}

    def provider_config(self, kind: str, params: dict) -> dict | None:
        """The relay's provider config for a claude or codex spawn (None when unreadable)."""
        provider = params.get("provider")
        if kind == "agent.restart":
            try:
                provider = self.sessions.find(params)[1]["provider"]
            except CommandFailed:
                return None
        if kind not in ("agent.spawn", "agent.restart") or provider not in CONFIGURED:
            return None
        try:
            return self.client.call("GET", f"/api/providers/{provider}/config",
                                    query={"reveal": "1"})
        except (RelayError, Unreachable) as error:
            log.warning("provider config for %s not read: %s", provider, error)
            return None

    def report(self, command: dict, outcome: dict) -> None:
        self.patch(command["id"], outcome["status"], result=outcome.get("result"),
                   error=outcome.get("error"))

    def patch(self, command_id: str, status: str, result=None, error=None) -> None:
        """PATCH the command, waiting out a relay that cannot be reached (it restarts)."""
        attempt = 0
        while True:
            try:
                self.client.patch_command(command_id, status, result=result, error=error)
                return
            except RelayError as failure:
                log.warning("command %s could not be moved to %s: %s", command_id, status,
                            failure.message)
                return
            except Unreachable as failure:
                attempt += 1
                if attempt == 1:
                    log.warning("relay unreachable while reporting command %s: %s",
                                command_id, failure.reason)
                if self.stop.wait(min(0.2 * 2 ** attempt, 5.0)):
                    return

"""Keeping an agent present: registration with an instanceId, heartbeats,
re-registration when pruned, offline at the end (README "Using the relay from
Claude Code and Codex"). Used by `relay run` and `relay mcp`.
"""
import logging
import os
import threading
import uuid

from .transport import RelayError, Unreachable, backoff

log = logging.getLogger("relay.client")


def heartbeat_interval():
    try:
        return max(0.05, float(os.environ.get("RELAY_HEARTBEAT", "30")))
    except ValueError:
        return 30.0


class Presence:
    """One agent session: `start()` registers (or retries in the background
    while the relay is down) and heartbeats every `interval` seconds; `stop()`
    ends the heartbeats and, with offline=True, patches the agent offline.

    A 404 on a heartbeat (the agent was pruned, or the relay restarted on a
    new database) registers again; a 409 (another process took the id)
    stops the heartbeats and calls `on_conflict`.
    """

    def __init__(self, client, agent_id, fields=None, interval=None, on_conflict=None,
                 on_error=None, on_recover=None):
        self.client = client
        self.agent_id = agent_id
        self.fields = dict(fields or {})
        self.instance_id = self.fields.setdefault("instanceId", uuid.uuid4().hex)
        self.epoch = None
        self.interval = interval or heartbeat_interval()
        self.on_conflict = on_conflict
        self.on_error = on_error
        self.on_recover = on_recover
        self.conflict = False
        self.registered = threading.Event()
        self.stopping = threading.Event()
        self.thread = None

    def register(self):
        agent = self.client.register(self.agent_id, **self.fields)
        self.epoch = agent.get("epoch")
        self.registered.set()
        return agent

    def try_register(self):
        """Register once; False (and nothing raised) when the relay is down."""
        try:
            self.register()
            return True
        except (Unreachable, RelayError) as error:
            self.report(error)
            return False

    def beat(self):
        """One step: register if not yet done, else heartbeat. Raises on failure."""
        if not self.registered.is_set():
            self.register()
            return
        try:
            self.client.heartbeat(self.agent_id, self.instance_id, self.epoch)
        except RelayError as error:
            if error.status == 404:
                self.registered.clear()
                self.register()
            elif error.status == 409:
                self.conflict = True
                if self.on_conflict:
                    self.on_conflict(error)
            else:
                raise

    def report(self, error):
        if self.on_error:
            self.on_error(error)
        else:
            log.warning("relay presence for %s: %s", self.agent_id, error)

    def loop(self):
        failures = 0
        wait = 0 if not self.registered.is_set() else self.interval
        while not self.stopping.wait(wait) and not self.conflict:
            try:
                self.beat()
                if failures and self.on_recover:
                    self.on_recover()
                failures = 0
                wait = self.interval
            except (Unreachable, RelayError) as error:
                # The relay is down or refusing: retry soon, catch up when it is back.
                self.report(error)
                wait = min(self.interval, backoff(failures, cap=10.0) * 4)
                failures += 1
            except Exception:          # a bug here must not end the child's presence
                log.exception("relay presence step failed")
                wait = self.interval

    def start(self):
        self.thread = threading.Thread(target=self.loop, name="relay-presence", daemon=True)
        self.thread.start()
        return self

    def stop(self, offline=False):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=self.client.timeout + 1)
        if offline and not self.conflict:
            try:
                self.client.patch_agent(self.agent_id, self.instance_id, self.epoch,
                                        status="offline")
            except (Unreachable, RelayError) as error:
                self.report(error)

"""The automations worker: runs actions when events or intervals say so.

Event triggers never run on the thread that caused the event. The worker is
a commit listener: after each COMMIT it is handed the events, keeps those
whose type an enabled automation watches (a prefix test against a tuple;
nothing else happens on the committing thread), and its own thread matches
filters and runs actions. A run's action calls the domain
function of the route its type names (domain/actions.py: POST /api/messages,
/api/tasks, /api/commands, the spawn routes), with the route's input check,
so it has the effects a client's request has; its answer or error is
recorded on the run, never raised into anyone's request.

Loop guard: an action's changes are committed with the run's depth
(committer.commit(change, depth)), so the events they make carry it
(envelope.depth); a run they trigger is one deeper, and past MAX_DEPTH it is
recorded as skipped instead of run.
"""
import json
import logging
import queue
import re
import threading

from .domain import actions
from .domain.actions import ActionFailed
from .schemas.automations import MAX_DEPTH
from .store import automations as store
from .worker import Worker

log = logging.getLogger("relay.automations")

QUEUE_MAX = 10000
PLACEHOLDER = re.compile(r"\{\{\s*event\.([A-Za-z0-9_.\-]+)\s*\}\}")
_MISSING = object()

# --- placeholders and filters ---------------------------------------------------

def lookup(value, path: str):
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def render(value, event: dict | None):
    """The action with {{event.<path>}} filled in: a string that is one placeholder takes
    the value itself (a number stays a number), others take its text."""
    if isinstance(value, dict):
        return {k: render(v, event) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, event) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def find(path: str):
        found = lookup(event, path) if event is not None else _MISSING
        if found is _MISSING:
            why = f"event {event['id']} has no {path}" if event else "the run has no event"
            raise ActionFailed(f"placeholder {{{{event.{path}}}}} has no value: {why}")
        return found
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return find(whole.group(1))
    return PLACEHOLDER.sub(lambda m: text(find(m.group(1))), value)


def text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def matches(filter_: dict, data: dict) -> bool:
    for path, expected in filter_.items():
        found = lookup(data, path)
        if found is _MISSING or found != expected or isinstance(found, bool) != isinstance(
                expected, bool):
            return False
    return True


class Automations(Worker):
    name = "relay-automations"

    def __init__(self, relay, tick: float = 1.0):
        super().__init__(relay.clock)
        self.relay = relay
        self.tick = tick
        self._queue: queue.Queue = queue.Queue(QUEUE_MAX)
        self._watched: tuple = ()          # event prefixes of enabled automations
        self._event_rules: list[dict] = []
        self._interval_rules: list[dict] = []
        self._run_lock = threading.Lock()
        self.dropped = 0

    # --- the committing thread: as little as possible --------------------------

    def committed(self, stored) -> None:
        watched = self._watched
        if not watched:
            return
        for envelope, _ in stored:
            if envelope["type"].startswith(watched):
                try:
                    self._queue.put_nowait((envelope, envelope.depth))
                except queue.Full:
                    self.dropped += 1
                    log.warning("automation queue full: event %s dropped", envelope["id"])

    # --- the rules -------------------------------------------------------------

    def reload(self) -> None:
        """Read the enabled automations again (after every write to them)."""
        connections = self.relay.connections
        c = connections.acquire()
        try:
            enabled = store.listing(c, enabled_only=True)
        finally:
            connections.release(c)
        self._event_rules = [a for a in enabled if "event" in a["trigger"]]
        self._interval_rules = [a for a in enabled if "everySeconds" in a["trigger"]]
        self._watched = tuple({a["trigger"]["event"] for a in self._event_rules})

    # --- running ---------------------------------------------------------------

    def drain(self) -> list[dict]:
        """Handle every queued event now (the thread does this; tests call it)."""
        made = []
        while True:
            try:
                envelope, depth = self._queue.get_nowait()
            except queue.Empty:
                return made
            made += self.handle(envelope, depth)

    def handle(self, envelope: dict, cause_depth: int) -> list[dict]:
        made = []
        for automation in self._event_rules:
            trigger = automation["trigger"]
            if envelope["type"].startswith(trigger["event"]) and matches(
                    trigger.get("filter") or {}, envelope["data"]):
                made.append(self.run(automation, "event", envelope, cause_depth + 1))
        return made

    def run_due(self) -> list[dict]:
        """Run the interval automations that are due now (once each: claimed first)."""
        made = []
        with self._run_lock:
            now = self.relay.clock()
            for automation in self._interval_rules:
                due = automation["nextRunAt"]
                if due is None or due > now:
                    continue
                every = automation["trigger"]["everySeconds"] * 1000
                claimed = self.relay.committer.commit(
                    lambda c: (store.claim_interval(c, automation["id"], due, now, every), []))
                automation["nextRunAt"] = now + every
                if claimed:
                    made.append(self.run(automation, "interval", None, 1))
        return made

    def run(self, automation: dict, trigger: str, event: dict | None, depth: int) -> dict:
        """Run the action once and record the run; a failure is recorded, not raised."""
        started = self.relay.clock()
        result, error, status = None, None, "succeeded"
        if depth > MAX_DEPTH:
            status = "skipped"
            error = (f"loop guard: depth {depth} is past {MAX_DEPTH} (the event was caused by "
                     f"automation runs {depth - 1} deep)")
        else:
            try:
                result = self.execute(automation, render(automation["action"], event), depth)
            except ActionFailed as failure:
                status, error = "failed", str(failure)
            except Exception as failure:
                log.exception("automation %s failed", automation["id"])
                status, error = "failed", f"internal error: {failure}"
        run = {"automationId": automation["id"], "trigger": trigger,
               "eventId": event["id"] if event else None, "depth": depth, "status": status,
               "result": result, "error": error, "startedAt": started,
               "finishedAt": self.relay.clock()}
        return self.relay.committer.commit(lambda c: (store.add_run(c, run), []))

    def execute(self, automation: dict, action: dict, depth: int) -> dict:
        return actions.run(self.relay, automation, action, depth)

    # --- the thread (worker.py: start/stop) ----------------------------------------

    def wake(self) -> None:
        try:
            self._queue.put_nowait((None, 0))
        except queue.Full:
            pass                                # a full queue wakes it anyway

    def loop(self) -> None:
        while not self.stopping.is_set():
            try:
                envelope, depth = self._queue.get(timeout=self.tick)
            except queue.Empty:
                envelope = None
            if envelope is not None:
                with self._run_lock:
                    self.step(f"automations on event {envelope['id']}", self.handle, envelope,
                              depth)
            if self.relay.shared:
                # Another process may have changed the automations (no event says
                # so): read them again every tick, so they apply here within one.
                self.step("automations reload", self.reload)
            self.step("interval automations", self.run_due)

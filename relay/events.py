"""Events: the durable log plus a broadcaster thread that fans them out live.

publish() writes the events in their own transaction *after* the state
change has committed, and hands them to the broadcaster while still holding
the publish lock, so the live order is the id order. A stream subscribes
before it replays from the log, which makes resume gap-free; ids it has
already replayed are skipped when they arrive live.
"""
import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass, field

from . import addresses, db
from .store import events as event_log
from .store.events import Envelope

log = logging.getLogger("relay.events")


@dataclass
class Event:
    type: str
    subject: str | None
    data: dict
    scope: dict | None = None          # {"to": address, "agents": [...]}: whom it concerns
    source: str = "server"


def agent_event(type_: str, agent: dict) -> Event:
    return Event(type_, agent["id"], agent, {"agents": [agent["id"]]})


def agent_removed(agent_id: str) -> Event:
    return Event("agent.removed", agent_id, {"agentId": agent_id}, {"agents": [agent_id]})


def message_scope(message: dict) -> dict:
    agents = [a for a in (message["from"], message.get("resolvedToAgent"),
                          message.get("claimedBy")) if a]
    return {"to": message["to"], "agents": agents}


def message_event(type_: str, message: dict, source: str = "server") -> Event:
    return Event(type_, str(message["id"]), message, message_scope(message), source)


def message_deleted(message: dict) -> Event:
    # Deletions carry only the id; the scope still says whom it concerned.
    return Event("message.deleted", str(message["id"]), {"messageId": message["id"]},
                 message_scope(message))


def activity_event(entry: dict) -> Event:
    scope = {"agents": [entry["agentId"]]} if entry.get("agentId") else None
    return Event("activity.created", str(entry["id"]), entry, scope)


def delivery_events(result: dict) -> list[Event]:
    """Events for store.delivery.on_agent_online's result, in the reference's order."""
    events = []
    name = result["policyName"]
    if name:
        events.append(Event("policy.state.changed", name, result["policyState"]))
        delivered = result["policyMessages"]
        if delivered:
            agent_id = result["policyState"]["agentId"]
            events.append(Event("message.available", "policy:" + name,
                                {"policyName": name, "agentId": agent_id,
                                 "messageIds": [m["id"] for m in delivered],
                                 "count": len(delivered)},
                                {"agents": [agent_id]}))
            events += [message_event("message.new", m, m["from"]) for m in delivered]
    events += [message_event("message.new", m, m["from"]) for m in result["poolMessages"]]
    return events


# --- subscriptions -------------------------------------------------------

RESET = "reset"      # what a subscription yields once it has fallen behind
CLOSED = "closed"    # ... and once the broadcaster has stopped


class Filter:
    """Which events a subscriber wants: type prefixes and/or one agent's view."""

    def __init__(self, types: list[str] | None = None, agent: dict | None = None):
        self.types = tuple(types or ())
        self.agent = agent

    def wants(self, envelope: dict, scope: dict | None) -> bool:
        if self.types and not envelope["type"].startswith(self.types):
            return False
        if self.agent is None:
            return True
        if envelope["type"] == "agent.status" and envelope["subject"] == self.agent["id"]:
            self.agent = envelope["data"]      # follow its tag/label changes
            return True
        return addresses.concerns(scope, self.agent)

    def describe(self) -> dict:
        return {"types": list(self.types), "agentId": self.agent["id"] if self.agent else None}


class Subscription:
    """One subscriber's bounded queue; the broadcaster never waits on it."""

    def __init__(self, event_filter: Filter, maxsize: int):
        self.filter = event_filter
        self.maxsize = maxsize
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._state = None                      # None, RESET or CLOSED

    def offer(self, envelope: dict) -> bool:
        """Queue an event; False once this subscriber is overflowed or closed."""
        with self._cond:
            if self._state:
                return False
            if len(self._items) >= self.maxsize:
                self._items.clear()
                self._state = RESET
                self._cond.notify_all()
                return False
            self._items.append(envelope)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        with self._cond:
            if not self._state:
                self._state = CLOSED
            self._cond.notify_all()

    def take(self, timeout: float | None, limit: int = 200):
        """Every queued event (up to `limit`) as a list, waiting up to `timeout`
        for the first; [] when it passes, RESET or CLOSED once that is the state.

        Taking what has piled up in one go lets a busy stream write it as one chunk.
        """
        with self._cond:
            if not self._items and not self._state:
                self._cond.wait(timeout)
            if self._items:
                count = min(limit, len(self._items))
                return [self._items.popleft() for _ in range(count)]
            return self._state or []


class Broadcaster:
    """Takes published events from one queue and fans them out to subscribers."""

    def __init__(self, queue_size: int = 1000):
        self.queue_size = queue_size
        self._inbox: queue.Queue = queue.Queue()
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="relay-broadcaster", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop fanning out and end every subscription (open streams close)."""
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            subscribers, self._subscribers = self._subscribers, set()
        for subscription in subscribers:
            subscription.close()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def submit(self, stored: list[tuple[dict, dict | None]]) -> None:
        if self._thread is not None:
            self._inbox.put(stored)

    def subscribe(self, event_filter: Filter) -> Subscription:
        subscription = Subscription(event_filter, self.queue_size)
        with self._lock:
            if self._thread is None:
                subscription.close()
            else:
                self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _run(self) -> None:
        while True:
            stored = self._inbox.get()
            if stored is None:
                return
            with self._lock:
                subscribers = list(self._subscribers)
            for subscription in subscribers:
                try:
                    self._deliver(subscription, stored)
                except Exception:
                    # One subscriber's broken filter must not starve the rest.
                    log.exception("dropping a subscriber whose filter failed")
                    self.unsubscribe(subscription)
                    subscription.close()

    def _deliver(self, subscription: Subscription, stored) -> None:
        for envelope, scope in stored:
            if subscription.filter.wants(envelope, scope) and not subscription.offer(envelope):
                self.unsubscribe(subscription)
                return


class Publisher:
    """Records events after the change they describe has committed, then fans out.

    It writes through its own connection at synchronous=NORMAL: the change was
    already committed (and fsynced at FULL) by the caller, and in WAL mode the
    next FULL commit makes these frames durable too. A killed process loses
    nothing; a power cut can lose only the newest events, never acknowledged
    state. It saves one fsync per write, held under the write lock.
    """

    def __init__(self, db_path: str, broadcaster: Broadcaster, clock):
        self.conn = db.connect(db_path, "NORMAL")
        self.broadcaster = broadcaster
        self.clock = clock

    def publish(self, events: list[Event]) -> list[dict]:
        if not events:
            return []
        rows = event_log.rows_for(events, self.clock())
        # One INSERT statement is its own atomic transaction. Holding the write
        # lock until the hand-off makes the live order the id order.
        with self.conn.write_lock:
            ids = event_log.append(self.conn, rows)
            stored = [(Envelope(id=i, type=e.type, source=e.source, subject=e.subject,
                                time=row[3], data=e.data), e.scope)
                      for i, e, row in zip(ids, events, rows)]
            self.broadcaster.submit(stored)
        return [envelope for envelope, _ in stored]

    def close(self) -> None:
        self.conn.close()

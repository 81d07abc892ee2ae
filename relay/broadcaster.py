"""The broadcaster: a thread that fans published events out to subscribers.

Each subscriber has a bounded queue. One that falls behind is reset and
dropped; it never slows the committer or the other subscribers.
"""
import logging
import queue
import threading
from collections import deque

from . import addresses

log = logging.getLogger("relay.broadcaster")

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
        # With nobody subscribed there is nothing to hand over: a stream that
        # subscribes just after this commit replays these events from the log.
        if self._thread is not None and self._subscribers:
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

"""The broadcaster: a thread that fans published events out to subscribers.

Each subscriber has a bounded queue. One that falls behind is reset and
dropped; it never slows the committer or the other subscribers.
"""
import queue
import threading
from collections import deque

from .clock import system_clock
from .domain import addresses
from .worker import Worker

RESET = "reset"      # what a subscription yields once it has fallen behind
CLOSED = "closed"    # ... and once the broadcaster has stopped

BATCH = 256          # events fanned out together at most, when commits queue up


def split_owed(items: list) -> tuple[bytes, list]:
    """A taken list as (bytes owed to the socket, envelopes after them)."""
    if items and type(items[0]) is bytes:
        return items[0], items[1:]
    return b"", items


class Filter:
    """Which events a subscriber wants: type prefixes and/or one agent's view."""

    def __init__(self, types: list[str] | None = None, agent: dict | None = None,
                 carries: bool = False):
        self.types = tuple(types or ())
        self.agent = agent
        # An event stream carries messages to the agent (its receipts move);
        # a long poll's wake-up subscription does not.
        self.carries = carries

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
    """One subscriber's queue, bounded by count and by bytes; the broadcaster
    never waits on it.

    While its stream waits with nothing pending, the stream lends it a sink
    (take(sink=...)): the broadcaster then writes events straight to the
    client's socket, without waking the stream's thread, as long as the
    socket takes them whole at once. What does not fit is queued, as the
    bytes still owed, and the thread is woken to write it with a timeout.
    Waking one thread per subscriber per event is what made fan-out slow.

    Events offered with `hold` wait in the queue, with everything offered
    after them, until release(): the stream receipts worker records first
    that they were delivered (stream_receipts.py).
    """

    def __init__(self, event_filter: Filter, maxsize: int, maxbytes: int = 8 << 20):
        self.filter = event_filter
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        # The last event id written straight to the sink (at first, where a
        # stream live from now starts: streaming.subscribe).
        self.sent_id = 0
        self._items: deque = deque()            # envelopes, or bytes owed to the socket
        self._bytes = 0
        self._cond = threading.Condition()
        self._state = None                      # None, RESET or CLOSED
        self._sink = None
        self._holds = 0                         # offers held until release()

    def offer(self, envelopes: list, hold: bool = False, encodings: dict | None = None) -> bool:
        """Queue (or write) events; False once this subscriber is overflowed or closed.
        With `hold`, nothing queued is handed over before release(). `encodings`:
        the bytes of these very events per sink type, shared by the subscribers
        offered the same list (filled in by the first to need them)."""
        with self._cond:
            if self._state:
                return False
            self._holds += hold
            # Not past anything queued: released events the stream's thread
            # has not taken yet would be overtaken, then skipped as sent.
            if self._sink is not None and not self._holds and not self._items:
                envelopes = self._write(envelopes, encodings)
                if not envelopes:
                    return not self._state
            self._items.extend(envelopes)
            self._bytes += sum(len(e) if type(e) is bytes else len(e.text()) for e in envelopes)
            if len(self._items) > self.maxsize or self._bytes > self.maxbytes:
                # Bytes owed are the rest of a frame already begun on the
                # wire: they stay, so that the reset frame can follow them.
                owed = self._items[0] if type(self._items[0]) is bytes else None
                self._items.clear()
                self._bytes = 0
                if owed is not None:
                    self._items.append(owed)
                    self._bytes = len(owed)
                self._state = RESET
            self._cond.notify_all()
            return not self._state

    def _write(self, envelopes: list, encodings: dict | None) -> list:
        """Hand events to the sink; what is left to queue (the bytes it did not take)."""
        if envelopes[0]["id"] <= self.sent_id:
            # Committed before the replay read the log, delivered after: already sent.
            envelopes = [e for e in envelopes if e["id"] > self.sent_id]
            if not envelopes:
                return []
            encodings = None
        sink = self._sink
        form = type(sink)
        data = encodings.get(form) if encodings is not None else None
        if data is None:
            data = sink.encode(envelopes)
            if encodings is not None:
                encodings[form] = data
        try:
            sent = sink.send_some(data)
        except OSError:
            self._state = CLOSED                # the client is gone: its thread ends the stream
            self._sink = None
            self._cond.notify_all()
            return []
        self.sent_id = envelopes[-1]["id"]
        if sent == len(data):
            return []
        self._sink = None                       # the thread writes the rest, then lends it again
        return [data[sent:]]

    def _write_raw(self, data: bytes) -> None:
        """Bytes through the lent sink; what it does not take is owed."""
        try:
            sent = self._sink.send_some(data)
        except OSError:
            self._state = CLOSED
            return
        if sent < len(data):
            self._items.append(data[sent:])

    def release(self) -> None:
        """One held offer may go (the last one: the stream's thread takes them)."""
        with self._cond:
            self._holds -= 1
            if not self._holds:
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if not self._state:
                self._state = CLOSED
            self._sink = None
            self._cond.notify_all()

    def _ready(self) -> bool:
        # Bytes owed finish a frame already begun on the wire: no hold keeps them.
        return bool(self._items) and (not self._holds or type(self._items[0]) is bytes)

    def take(self, timeout: float | None, limit: int = 500, sink=None, seen: int = 0,
             keepalive: bytes | None = None):
        """Every queued item (up to `limit`) as a list, waiting up to `timeout`
        for the first; [] when it passes, RESET or CLOSED once that is the state.

        With a `sink`, events that arrive meanwhile go straight to it (when
        nothing held is queued before them), except those with ids up to
        `seen` (the caller sent them already); it is taken back before this
        returns, so the caller may write its socket. Items are envelopes, and
        bytes owed to the socket (only ever first, taken alone while held).
        With a `keepalive` too, each `timeout` of quiet writes it through the
        sink and goes on waiting: taking the sink back for it would send the
        events that come meanwhile the slow way, through the caller's thread.
        """
        with self._cond:
            while not self._ready() and not self._state:
                self._sink = None if self._items else sink      # nothing passes what is held
                self.sent_id = max(self.sent_id, seen)
                if self._cond.wait(timeout):
                    continue            # woken: events, a state, or a held offer (wait on)
                if keepalive is None or sink is None or self._sink is not sink:
                    break
                self._write_raw(keepalive)
            self._sink = None
            if self._ready():
                count = 1 if self._holds else min(limit, len(self._items))     # the bytes alone
                taken = [self._items.popleft() for _ in range(count)]
                self._bytes = 0 if not self._items else self._bytes - sum(
                    len(e) if type(e) is bytes else len(e.text()) for e in taken)
                return taken
            return self._state or []


class Broadcaster(Worker):
    """Takes published events from one queue and fans them out to subscribers."""

    name = "relay-broadcaster"

    def __init__(self, queue_size: int = 1000, queue_bytes: int = 8 << 20, clock=system_clock):
        super().__init__(clock)
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._inbox: queue.Queue = queue.Queue()
        self._subscribers: set[Subscription] = set()
        self._subscribers_lock = threading.Lock()
        # The stream receipts worker (stream_receipts.py), set by the runtime.
        self.receipts = None

    # --- the thread (worker.py: start/stop) ----------------------------------------

    def wake(self) -> None:
        self._inbox.put(None)

    def stopped(self) -> None:
        """Stop fanning out and end every subscription (open streams close)."""
        with self._subscribers_lock:
            subscribers, self._subscribers = self._subscribers, set()
        for subscription in subscribers:
            subscription.close()

    def submit(self, stored: list[tuple[dict, dict | None]]) -> None:
        # With nobody subscribed there is nothing to hand over: a stream that
        # subscribes just after this commit replays these events from the log.
        if self._thread is not None and self._subscribers:
            self._inbox.put(stored)

    def subscribe(self, event_filter: Filter) -> Subscription:
        subscription = Subscription(event_filter, self.queue_size, self.queue_bytes)
        with self._subscribers_lock:
            if self._thread is None:
                subscription.close()
            else:
                self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._subscribers_lock:
            self._subscribers.discard(subscription)

    def subscriber_count(self) -> int:
        with self._subscribers_lock:
            return len(self._subscribers)

    def _gather(self) -> tuple[list, bool]:
        """The next commit's events, with every commit queued behind it (up to
        BATCH events), and whether stop() was asked. Under load one write per
        subscriber then carries several commits, so the cost per event falls
        as the rate rises, instead of a backlog growing."""
        stored = self._inbox.get()
        if stored is None:
            return [], True
        while len(stored) < BATCH:
            try:
                more = self._inbox.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return stored, True
            stored = stored + more
        return stored, False

    def loop(self) -> None:
        stopping = False
        while not stopping:
            stored, stopping = self._gather()
            if not stored:
                continue
            with self._subscribers_lock:
                subscribers = list(self._subscribers)
            by_types: dict = {}
            for subscription in subscribers:
                try:
                    self._deliver(subscription, stored, by_types)
                except Exception as error:
                    # One subscriber's broken filter must not starve the rest.
                    self.failed("a subscriber's filter (dropped)", error)
                    self.unsubscribe(subscription)
                    subscription.close()
            self.last_run_at = self.clock()

    def _deliver(self, subscription: Subscription, stored, by_types: dict) -> None:
        # One offer per batch: one lock, one wake-up (or one write) for all its events.
        event_filter = subscription.filter
        encodings = None
        if event_filter.agent is None:
            # Filtered by type alone: streams asking the same types share one
            # pass over the batch (hundreds of dashboards and watchers ask alike),
            # and the bytes of what it kept, made once per wire form.
            key = (type(event_filter), event_filter.types)
            shared = by_types.get(key)
            if shared is None:
                shared = by_types[key] = ([envelope for envelope, scope in stored
                                           if event_filter.wants(envelope, scope)], {})
            wanted, encodings = shared
        else:
            wants = event_filter.wants
            wanted = [envelope for envelope, scope in stored if wants(envelope, scope)]
        if not wanted:
            return
        # Messages asking for an ack that a stream carries to its agent: held in its
        # queue until their receipts say delivered, which the receipts worker writes
        # (this thread never waits on the database).
        agent_id = event_filter.agent["id"] if event_filter.carries else None
        ids = self.receipts.carried(agent_id, wanted) if agent_id and self.receipts else None
        if not subscription.offer(wanted, bool(ids), encodings):
            self.unsubscribe(subscription)
        elif ids:
            self.receipts.note(agent_id, ids, subscription.release)

"""Receipts for what streams carry: a message sent with ackRequired that an
agent's event stream (SSE or WebSocket, live or replayed) hands to it is
delivered, as if its poll had answered it.

The receipt is written before the stream hands the event over, so a client
that reads the event and asks finds it delivered. The broadcaster must never
wait on the database, so it holds such events in the subscriber's queue
(Subscription.offer(hold=True)) and notes them here; this thread writes the
receipts of everything noted, one commit per pass, then releases them. A
replay, on the stream's own thread, writes them itself (record()).
"""
import threading

from .domain import acks
from .store import receipts
from .worker import Periodic

PASS_SECONDS = 0.2       # a pass when nothing woke it sooner (note() does)


class StreamReceipts(Periodic):
    name = "relay-stream-receipts"

    def __init__(self, relay, interval: float = PASS_SECONDS):
        super().__init__(interval, relay.clock)
        self.relay = relay
        self._pending: dict[str, set[int]] = {}
        self._releases: list = []
        self._pending_lock = threading.Lock()

    carried = staticmethod(acks.carried)

    def note(self, agent_id: str, ids: list[int], release) -> None:
        """The broadcaster held these for a stream of `agent_id`; release() lets
        them go once written (or once writing failed: the events are still owed)."""
        with self._pending_lock:
            self._pending.setdefault(agent_id, set()).update(ids)
            self._releases.append(release)
        self.wake()

    def record(self, agent_id: str, envelopes) -> None:
        """Before a replay hands `envelopes` to a stream of `agent_id`."""
        ids = acks.carried(agent_id, envelopes)
        if ids:
            self._write({agent_id: ids})

    def run_once(self) -> None:
        with self._run_lock, self._pending_lock:
            pending, self._pending = self._pending, {}
            releases, self._releases = self._releases, []
        try:
            if pending:
                self._write(pending)
        finally:
            for release in releases:
                release()

    def _write(self, pending: dict) -> None:
        now = self.relay.clock()

        def change(c):
            for agent_id, ids in pending.items():
                receipts.delivered(c, agent_id, sorted(ids), now)
            return None, []
        self.relay.committer.commit(change)

"""Receipts for what streams carry: a message sent with ackRequired that an
agent's event stream (SSE or WebSocket, live or replayed) hands to it is
delivered, as if its poll had answered it.

The broadcaster must never wait on the database, so it only notes the ids
here; this thread writes them, a batch per pass, through the committer.
"""
import threading

from . import acks
from .periodic import Periodic
from .store import receipts

PASS_SECONDS = 0.2


class StreamReceipts(Periodic):
    name = "relay-stream-receipts"

    def __init__(self, relay, interval: float = PASS_SECONDS):
        super().__init__(interval)
        self.relay = relay
        self._pending: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def note(self, agent_id: str, envelopes) -> None:
        """Called for the events a stream of `agent_id` was just handed."""
        ids = acks.carried(agent_id, envelopes)
        if ids:
            with self._lock:
                self._pending.setdefault(agent_id, set()).update(ids)

    def run_once(self) -> None:
        with self._run_lock, self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        now = self.relay.clock()

        def change(c):
            for agent_id, ids in pending.items():
                receipts.delivered(c, agent_id, sorted(ids), now)
            return None, []
        self.relay.committer.commit(change)

"""The callback worker: sends the task callbacks that commits have owed.

A delivery is a row written in the same transaction as the status change
that causes it (store/deliveries.py), so nothing is sent for a change that
did not commit, and a relay that stops first leaves the row pending for the
next one on the same database. This thread only reads what is due and hands
each delivery to a small pool of sender threads: a slow or dead callback
server holds a sender for at most `timeout` seconds, and at most half of the
senders at once, so it delays no request and no other receiver. A task has
at most one delivery in flight, and its deliveries go out in order (the
oldest pending one first).

Every try is recorded with its outcome (callback_send.py), whatever goes
wrong while sending. Retries: network errors, timeouts and 5xx are tried
again after 1 s, 2 s, 4 s ... (capped at `max_delay`, 5 min) for up to
RELAY_CALLBACK_RETRY_FOR seconds from when the delivery was owed (or sent
again by POST .../deliveries/:id/retry); then it is failed. A try whose
outcome cannot even be recorded is not looked at again before its backoff,
so nothing spins.
"""
import logging
import queue
import threading
from collections import Counter

from .callback_send import Outcome, describe, post
from .outbound import OutboundPolicy
from .store import deliveries
from .store.deliveries import host_of
from .worker import Periodic

log = logging.getLogger("relay.callbacks")


class Callbacks(Periodic):
    name = "relay-callbacks"

    def __init__(self, relay, *, poll_interval: float = 1.0, timeout: float = 10.0,
                 senders: int = 8, retry_for: float = 86400, base_delay: float = 1.0,
                 max_delay: float = 300.0, policy: OutboundPolicy | None = None):
        super().__init__(poll_interval, relay.clock, first_at_start=True)
        self.relay = relay
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.senders = senders
        self.per_host = max(1, senders // 2)     # deliveries in flight to one host
        self.retry_for = retry_for
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.policy = policy or OutboundPolicy(None)
        # delivery id -> clock ms before which it is not tried again: for a try
        # whose outcome could not be recorded (the database refused the write).
        self._cooling: dict[int, int] = {}
        self._in_flight: dict[int, str] = {}     # task id -> host, of deliveries being sent
        self._in_flight_lock = threading.Lock()
        # Daemon sender threads: a send still waiting on a dead receiver must
        # not hold the process at exit (a pool's threads are joined at exit).
        self._outbox: queue.Queue | None = None

    # --- fed by the committer ---------------------------------------------------

    def committed(self, stored) -> None:
        """Committer listener: a task change may have owed a callback."""
        if any(envelope["type"].startswith("task.") for envelope, _ in stored):
            self._wake.set()

    # --- one look at what is due ------------------------------------------------------

    def run_once(self) -> int:
        """Hand every due delivery to a sender (or send it here when the worker
        is not running); answers how many were handed out."""
        now = self.relay.clock()
        with self._in_flight_lock:
            busy = dict(self._in_flight)
            self._cooling = {k: v for k, v in self._cooling.items() if v > now}
            cooling = set(self._cooling)
        outbox = self._outbox
        hosts = Counter(busy.values())
        full = [h for h, n in hosts.items() if n >= self.per_host] if outbox is not None else []
        conn = self.relay.connections.acquire()
        try:
            due = deliveries.due(conn, now, busy, full)
        finally:
            self.relay.connections.release(conn)
        handed = 0
        for row in due:
            if row["id"] in cooling:
                continue
            host = row["host"] or host_of(row["url"])
            if outbox is not None and hosts[host] >= self.per_host:
                continue                  # the next look, once one of them is answered
            hosts[host] += 1
            handed += 1
            with self._in_flight_lock:
                self._in_flight[row["task_id"]] = host
            if outbox is None:
                self._deliver(row)
            else:
                outbox.put(row)
        return handed

    def _send_loop(self, outbox: queue.Queue) -> None:
        while True:
            row = outbox.get()
            if row is None or self.stopping.is_set():
                return                   # stopping: a row not sent stays pending
            self._deliver(row)

    def _deliver(self, row) -> None:
        try:
            try:
                outcome = post(row, self.policy, self.timeout)
            except Exception as error:      # noqa: BLE001 - post() answers; this is a bug
                outcome = Outcome(None, f"cannot be sent: {describe(error)}", False)
            self._record(row, outcome)
        except Exception:
            # Not recorded (the database refused): left pending, but not tried
            # again before its backoff.
            with self._in_flight_lock:
                self._cooling[row["id"]] = self.relay.clock() + int(
                    1000 * self.backoff(row["attempts"] + 1))
            log.exception("callback delivery %s: its outcome could not be recorded", row["id"])
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(row["task_id"], None)
            self._wake.set()         # the task's next delivery may go now

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed try."""
        return min(self.base_delay * 2 ** min(attempts - 1, 60), self.max_delay)

    def _record(self, row, outcome: Outcome) -> None:
        now = self.relay.clock()
        attempts = row["attempts"] + 1
        give_up_at = (row["retried_at"] or row["created_at"]) + int(1000 * self.retry_for)
        if outcome.error is None:
            status, next_at, delivered_at = "delivered", now, now
        elif outcome.retry and now + int(1000 * self.backoff(attempts)) <= give_up_at:
            next_at = now + int(1000 * self.backoff(attempts))
            status, delivered_at = "pending", None
        else:
            status, next_at, delivered_at = "failed", now, None
        if status != "delivered":
            log.warning("callback %s for task %s to %s: %s (%s)", row["id"], row["task_id"],
                        row["url"][:200], outcome.error, status)

        def change(c):
            deliveries.record(c, row["id"], status=status, attempts=attempts,
                              next_attempt_at=next_at, error=outcome.error and outcome.error[:500],
                              response_status=outcome.status, delivered_at=delivered_at)
            return None, []
        self.relay.committer.commit(change)

    # --- the thread (worker.py: the loop, start/stop) ------------------------------

    def starting(self) -> None:
        self._in_flight.clear()
        self._outbox = queue.Queue()
        for i in range(self.senders):
            threading.Thread(target=self._send_loop, args=(self._outbox,),
                             name=f"relay-callback-{i}", daemon=True).start()

    def stopped(self) -> None:
        """A send under way is not waited for: its row stays pending and the
        next start sends it again (at least once)."""
        if self._outbox is not None:
            for _ in range(self.senders):
                self._outbox.put(None)
            self._outbox = None

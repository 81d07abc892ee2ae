"""The callback worker: sends the task callbacks that commits have owed.

A delivery is a row written in the same transaction as the status change
that causes it (store/deliveries.py), so nothing is sent for a change that
did not commit, and a relay that stops first leaves the row pending for the
next one on the same database. Every process runs this worker (README:
"Several relays on PostgreSQL"): it takes due deliveries by a per-row claim
(store/deliveries.py claim(), through the committer like every write), which
leases each row for `lease` seconds, longer than a try can last
(callback_send.py cuts a try at `timeout`), and hands them to a small pool of
sender threads; a sender's record of a try also takes the next due delivery to
the same host, in the same write, so a busy receiver's callbacks need no claim
of their own each (bench/tasks.py: the callback lag). A row leased by one process is taken by no other while its
sender lives; one whose process died comes due again when its lease ends (at
least once). A slow or dead callback server holds a sender for at most
`timeout` seconds, and at most half of this process's senders at once, so it
delays no request and no other receiver. A task has at most one delivery in
flight, and its deliveries go out in order (the oldest pending one first).

Every try is recorded with its outcome (callback_send.py), whatever goes
wrong while sending, by a conditional update that holds only while the lease
does. Retries: network errors, timeouts and 5xx are tried again after 1 s,
2 s, 4 s ... (capped at `max_delay`, 5 min) for up to RELAY_CALLBACK_RETRY_FOR
seconds from when the delivery was owed (or sent again by POST
.../deliveries/:id/retry); then it is failed. A try whose outcome cannot even
be recorded is not looked at again before its lease ends, so nothing spins.
"""
import logging
import queue
import threading
from collections import Counter

from .callback_send import Outcome, describe, post
from .outbound import OutboundPolicy
from .store import deliveries
from .worker import Periodic

log = logging.getLogger("relay.callbacks")


# A lease in tries: a row is this process's for this many `timeout`s, so a try
# (at most about one `timeout` once connected) and its record fit well inside it.
LEASE_TRIES = 6


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
        self._in_flight: Counter = Counter()     # host -> deliveries this process is sending
        self._in_flight_lock = threading.Lock()
        # Daemon sender threads: a send still waiting on a dead receiver must
        # not hold the process at exit (a pool's threads are joined at exit).
        self._outbox: queue.Queue | None = None

    @property
    def lease(self) -> float:
        """Seconds a taken delivery stays this process's."""
        return LEASE_TRIES * self.timeout

    # --- fed by the committer ---------------------------------------------------

    def committed(self, stored) -> None:
        """Committer listener: a task change may have owed a callback."""
        if any(envelope["type"].startswith("task.") for envelope, _ in stored):
            self._wake.set()

    # --- one look at what is due ------------------------------------------------------

    def run_once(self) -> int:
        """Take what is due and this process has room for, and hand it to the
        senders (or send it here, one after another, when the worker is not
        running); answers how many were taken."""
        outbox = self._outbox
        taken = self.claim(threaded=outbox is not None)
        for row in taken:
            if outbox is None:
                self.deliver(row)
            else:
                outbox.put(row)
        return len(taken)

    def claim(self, threaded: bool = True) -> list:
        """Lease due deliveries for this process: as many as it has free
        senders, within the per-host limit as far as this process can see it
        (its own sends). Unthreaded, the rows are sent one after another, so
        each lease covers the tries before it too."""
        now = self.relay.clock()
        with self._in_flight_lock:
            busy = dict(self._in_flight)
        room = self.senders - sum(busy.values())
        if room <= 0 or not self._any_due(now):
            return []
        lease = int(1000 * self.lease) * (1 if threaded else room)
        host_room = {host: self.per_host - n for host, n in busy.items()}
        rows = self.relay.committer.commit(lambda c: (deliveries.claim(
            c, now, now + lease, room, host_room, self.per_host), []))
        with self._in_flight_lock:
            self._in_flight.update(row["host"] or "" for row in rows)
        return rows

    def _any_due(self, now: int) -> bool:
        """A read first: a look with nothing due (most of them) takes no write lock."""
        conn = self.relay.connections.acquire()
        try:
            return deliveries.any_due(conn, now)
        finally:
            self.relay.connections.release(conn)

    def _send_loop(self, outbox: queue.Queue) -> None:
        while True:
            row = outbox.get()
            if row is None or self.stopping.is_set():
                return                   # stopping: a row not sent comes due when its lease ends
            self.deliver(row, chain=True)

    def deliver(self, row, chain: bool = False) -> None:
        """Send a claimed delivery, then give back its sender. With `chain`
        (a sender thread), each try's record also takes the next due delivery
        to the same host, in the same write, and the sender goes on with it:
        a busy receiver's callbacks go out without a claim of their own each."""
        host = row["host"] or ""                  # a chain stays on one host
        try:
            while row is not None:
                row = self._try(row, chain and not self.stopping.is_set())
        finally:
            with self._in_flight_lock:
                if self._in_flight[host] > 1:
                    self._in_flight[host] -= 1
                else:
                    self._in_flight.pop(host, None)
            self._wake.set()         # the task's next delivery may go now

    def _try(self, row, take_next: bool):
        """One try, recorded; answers the next row taken (or None)."""
        try:
            try:
                outcome = post(row, self.policy, self.timeout)
            except Exception as error:      # noqa: BLE001 - post() answers; this is a bug
                outcome = Outcome(None, f"cannot be sent: {describe(error)}", False)
            return self._record(row, outcome, take_next)
        except Exception:
            # Not recorded (the database refused): pending, due when its lease ends.
            log.exception("callback delivery %s: its outcome could not be recorded", row["id"])
            return None

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed try."""
        return min(self.base_delay * 2 ** min(attempts - 1, 60), self.max_delay)

    def _record(self, row, outcome: Outcome, take_next: bool):
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

        host = row["host"] or ""

        def change(c):
            recorded = deliveries.record(
                c, row["id"], row["next_attempt_at"], status=status, attempts=attempts,
                next_attempt_at=next_at, error=outcome.error and outcome.error[:500],
                response_status=outcome.status, delivered_at=delivered_at)
            taken = deliveries.claim(c, now, now + int(1000 * self.lease), 1, {host: 1},
                                     self.per_host, host) if take_next else []
            return (recorded, taken), []
        recorded, taken = self.relay.committer.commit(change)
        if not recorded:
            log.warning("callback %s for task %s: its lease ended before this try was "
                        "recorded; the row was taken again", row["id"], row["task_id"])
        return taken[0] if taken else None

    # --- the thread (worker.py: the loop, start/stop) ------------------------------

    def starting(self) -> None:
        self._in_flight.clear()
        self._outbox = queue.Queue()
        for i in range(self.senders):
            threading.Thread(target=self._send_loop, args=(self._outbox,),
                             name=f"relay-callback-{i}", daemon=True).start()

    def stopped(self) -> None:
        """A send under way is not waited for: its row stays pending and
        comes due again when its lease ends (at least once)."""
        if self._outbox is not None:
            for _ in range(self.senders):
                self._outbox.put(None)
            self._outbox = None

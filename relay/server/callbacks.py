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

Retries: network errors, timeouts and 5xx are tried again `retries` times,
after 1 s, 2 s, 4 s ... (capped at `max_delay`); any other answer but 2xx
(a 3xx is not followed, a 4xx) ends the delivery as failed.
"""
import http.client
import logging
import queue
import threading
from collections import Counter
from urllib.parse import urlsplit

from relay import __version__
from .store import deliveries
from .worker import Periodic

log = logging.getLogger("relay.callbacks")


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:            # post() fails it without retries
        return url


class Callbacks(Periodic):
    name = "relay-callbacks"

    def __init__(self, relay, *, poll_interval: float = 1.0, timeout: float = 10.0,
                 senders: int = 8, retries: int = 5, base_delay: float = 1.0,
                 max_delay: float = 300.0):
        super().__init__(poll_interval, relay.clock, first_at_start=True)
        self.relay = relay
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.senders = senders
        self.per_host = max(1, senders // 2)     # deliveries in flight to one host
        self.retries = retries
        self.base_delay = base_delay
        self.max_delay = max_delay
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
        conn = self.relay.connections.acquire()
        try:
            due = deliveries.due(conn, now, busy)
        finally:
            self.relay.connections.release(conn)
        outbox = self._outbox
        hosts = Counter(busy.values())
        handed = 0
        for row in due:
            host = host_of(row["url"])
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
            self._record(row, *self.post(row))
        except Exception:
            log.exception("callback delivery %s failed to run", row["id"])
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(row["task_id"], None)
            self._wake.set()         # the task's next delivery may go now

    def post(self, row) -> tuple[int | None, str | None, bool]:
        """POST the stored body; (HTTP status or None, error or None, worth retrying):
        a network error, a timeout and a 5xx are worth another try."""
        headers = {"Content-Type": "application/json", "User-Agent": f"relay/{__version__}",
                   "X-Relay-Event": row["event"], "X-Relay-Delivery": str(row["id"])}
        if row["signature"]:
            headers["X-Relay-Signature"] = row["signature"]
        try:
            url = urlsplit(row["url"])
            kind = (http.client.HTTPSConnection if url.scheme == "https"
                    else http.client.HTTPConnection)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            conn = kind(url.hostname, url.port, timeout=self.timeout)
        except ValueError as error:       # checked when the task was opened; never retried
            return None, f"bad URL: {error}", False
        try:
            conn.request("POST", path, body=row["body"].encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            if 200 <= response.status < 300:
                return response.status, None, False
            return response.status, f"HTTP {response.status}", response.status >= 500
        except (OSError, http.client.HTTPException) as error:
            return None, str(error) or type(error).__name__, True
        finally:
            conn.close()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed try."""
        return min(self.base_delay * 2 ** (attempts - 1), self.max_delay)

    def _record(self, row, status: int | None, error: str | None, retry: bool) -> None:
        now = self.relay.clock()
        attempts = row["attempts"] + 1
        if error is None:
            outcome, next_at, delivered_at = "delivered", now, now
        elif retry and attempts <= self.retries:
            next_at = now + int(1000 * self.backoff(attempts))
            outcome, delivered_at = "pending", None
        else:
            outcome, next_at, delivered_at = "failed", now, None
        if outcome != "delivered":
            log.warning("callback %s for task %s to %s: %s (%s)", row["id"], row["task_id"],
                        row["url"], error, outcome)

        def change(c):
            deliveries.record(c, row["id"], status=outcome, attempts=attempts,
                              next_attempt_at=next_at, error=error, response_status=status,
                              delivered_at=delivered_at)
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

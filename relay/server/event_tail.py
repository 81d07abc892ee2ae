"""PostgreSQL: every process's events to this process's streams.

On SQLite the committer hands each commit's events to the broadcaster
itself (one process sees every commit). With several processes on one
PostgreSQL database, a commit made elsewhere is only in the event log, so
each process follows the log: this worker keeps one dedicated connection
that LISTENs on the channel each commit NOTIFYs with its last event id,
and reads the events after the last one it handed on, in id order, to the
broadcaster — its own process's commits included, so the live order is the
id order across processes. Write transactions run at once, but each inserts
its events under one advisory lock held to its COMMIT (dialects/postgres.py:
the append is serialized, not the reads), so ids commit in order: a read
that sees id N has seen every id below it, and reading after the last id
handed on skips nothing.

A notification only says "look"; the read is what counts, so a lost or
merged notification costs nothing, and a look every POLL seconds anyway
bounds the delay (RELAY_PG_NOTIFY=0: polling alone, every POLL_ONLY seconds,
for transaction poolers that drop LISTEN). A lost connection is reconnected
and the read resumes after the last id handed on: nothing is skipped.
"""
import threading

from .clock import system_clock
from .dialects import postgres
from .store import event_log
from .worker import Worker

POLL = 0.5              # with LISTEN: a look at least this often
POLL_ONLY = 0.1         # without it
BATCH = 1000
RETRY = 1.0             # after a lost connection


class EventTail(Worker):
    name = "relay-event-tail"

    def __init__(self, url: str, listeners, notify: bool = True, clock=system_clock):
        super().__init__(clock)
        self.url = url
        self.listeners = listeners
        self.notify = notify
        self.last_id: int | None = None
        self._conn: postgres.Connection | None = None
        self._local_wake = threading.Event()

    def committed(self, stored) -> None:
        """Committer listener (poll-only mode): this process's commit, look now."""
        self._local_wake.set()

    def wake(self) -> None:
        self._local_wake.set()

    def starting(self) -> None:
        # Live starts here: what committed before is the streams' replay.
        conn = postgres.connect(self.url)
        try:
            self.last_id = event_log.latest_id(conn)
        finally:
            conn.close()

    def stopped(self) -> None:
        self._close()

    def loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if self._conn is None:
                    self._conn = postgres.connect(self.url)
                    if self.notify:
                        self._conn.raw.execute(f"LISTEN {postgres.CHANNEL}")
                self.step("event tail read", self.read)
                self._wait()
            except postgres.Error as error:
                self.failed("event tail connection", error)
                self._close()
                self.stopping.wait(RETRY)

    def read(self) -> int:
        """Hand every event after the last one handed on to the listeners; how many."""
        handed = 0
        while True:
            batch = event_log.after(self._conn, self.last_id, BATCH)
            if not batch:
                return handed
            self.last_id = batch[-1][0]["id"]
            handed += len(batch)
            for listener in self.listeners:
                try:
                    listener(batch)
                except Exception as error:       # one broken listener must not stop the others
                    self.failed("event tail listener", error)
            if len(batch) < BATCH:
                return handed

    def _wait(self) -> None:
        if self.notify:
            for _ in self._conn.raw.notifies(timeout=POLL, stop_after=1):
                pass
        else:
            self._local_wake.wait(POLL_ONLY)
            self._local_wake.clear()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

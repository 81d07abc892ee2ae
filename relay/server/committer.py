"""Every write goes through here: a change, its events, one commit, then fan-out.

A change is a function of a connection that returns (result, events). It
runs inside a write transaction (`dialect.begin()`: SQLite's BEGIN
IMMEDIATE, PostgreSQL's SERIALIZABLE transaction); its events are recorded in
the same transaction, last, so an event exists exactly when its change does.
Only after COMMIT are they handed to the listeners (the agent cache, then the
broadcaster; still under the write lock, so the live order is the id
order) and the caller answered: nothing is acknowledged or streamed before
it is durable.

On PostgreSQL other processes' transactions run at the same time; the
events are inserted under an append lock held to COMMIT, so event ids commit
in id order (dialects/postgres.py says why that technique). A change that
inserts messages is committed `ordered`: its batch takes the messages' lock
before it begins, so its snapshot follows the previous sender's commit. A
conflict (dialect.retryable: a serialization failure, a deadlock, a row
waited for too long) runs the whole batch again, up to ATTEMPTS times
after a jittered pause that doubles each time (the transactions it met
end meanwhile); then its jobs fail with the error.

Group commit. Requests that arrive while a transaction is running wait;
when it ends, the first of them is handed the lead and runs all the
waiting changes in one transaction, one after the other, and commits them
together. Under load one fsync serves several requests, and fewer SQLite
calls (each of which gives up the GIL and must win it back) sit between a
request and its answer.

A change that raises fails alone. The batch runs first without savepoints
(they cost two statements per change); when a change fails, the
transaction is rolled back and the others run again, each under a
savepoint from then on. Running a change twice is safe: the first run was
rolled back, and changes touch nothing but the database.
"""
import logging
import random
import threading
import time

from . import db
from .store import event_log
from .store.event_log import Envelope

log = logging.getLogger("relay.committer")

ATTEMPTS = 20           # runs of a batch that keeps conflicting, before its jobs fail
PAUSE = 0.001           # seconds: the most the first pause after a conflict may last, doubled
MAX_PAUSE = 0.1         # at each conflict up to this (20 runs span about a second)


class _Job:
    __slots__ = ("change", "depth", "ordered", "turn", "done", "committed", "result", "events",
                 "rows", "error")

    def __init__(self, change, depth: int, ordered: bool):
        self.change = change
        self.depth = depth
        self.ordered = ordered
        # Held until the job is done or its thread is handed the lead: each
        # waiting thread is woken once, for its own reason.
        self.turn = threading.Lock()
        self.turn.acquire()
        self.done = self.committed = False
        self.result, self.events, self.rows, self.error = None, [], [], None


class _Failed(Exception):
    """A change failed while the batch ran without savepoints."""


class Committer:
    def __init__(self, db_path: str, synchronous: str, clock, listeners):
        """`listeners` are called with each commit's [(envelope, scope)], in order."""
        self.db_path, self.synchronous = db_path, synchronous
        self.conn = db.connect(db_path, synchronous)
        self.clock = clock
        self.listeners = listeners
        self._mutex = threading.Lock()
        self._waiting: list[_Job] = []
        self._leading = False
        self._local = threading.local()
        self.retries = 0            # batches run again after a conflict (PostgreSQL)

    def in_change(self) -> bool:
        """Whether this thread is running a change (and must use its connection)."""
        return getattr(self._local, "active", False)

    def commit(self, change, depth: int = 0, ordered: bool = False):
        """Run `change(conn) -> (result, events)` and commit; returns the result
        once committed and published, or raises what the change raised.

        `depth`: how many automation runs deep the change was caused (the
        automations' loop guard); its envelopes carry it to the listeners.
        `ordered`: the change may insert messages (the module's docstring)."""
        if self.in_change():
            raise RuntimeError("commit() inside a change: do all of it in the one change")
        job = _Job(change, depth, ordered)
        with self._mutex:
            self._waiting.append(job)
            waits, self._leading = self._leading, True
        if waits:
            job.turn.acquire()
        if not job.done:
            self._lead()
        if job.error is not None:
            raise job.error
        return job.result

    def _lead(self) -> None:
        """Run everything waiting as one batch, then wake its jobs and hand the
        lead to the first job that arrived meanwhile (if any)."""
        with self._mutex:
            batch, self._waiting = self._waiting, []
        try:
            self._run(batch)
        except BaseException as error:
            # BEGIN or a ROLLBACK failed: whatever did not commit fails with it.
            for job in batch:
                if job.error is None and not job.committed:
                    job.error = error
        finally:
            with self._mutex:
                for job in batch:
                    job.done = True
                successor = self._waiting[0] if self._waiting else None
                self._leading = successor is not None
            # The next batch is the critical path: wake its leader first.
            if successor is not None:
                successor.turn.release()
            for job in batch:
                job.turn.release()

    def _run(self, batch: list[_Job]) -> None:
        if getattr(self.conn, "closed", False):
            # A PostgreSQL server restarted or dropped the connection: the batch
            # that found it broken failed; this one gets a new connection.
            self.conn = db.connect(self.db_path, self.synchronous)
        conn = self.conn
        guarded = False
        attempt = 0
        with conn.write_lock:
            while True:
                runnable = [job for job in batch if job.error is None]
                if not runnable:
                    return
                now = self.clock()
                conn.dialect.begin(conn, any(job.ordered for job in runnable))
                try:
                    for job in runnable:
                        self._apply(conn, job, guarded, now)
                    stored = self._record(conn, [job for job in runnable if job.error is None])
                    # commit() and rollback() give up the GIL once; execute("COMMIT") twice.
                    conn.commit()
                    for job in runnable:
                        job.committed = True
                except _Failed:
                    conn.rollback()
                    guarded = True
                    continue
                except BaseException as error:      # a conflict, the events or the COMMIT
                    conn.rollback()
                    attempt += 1
                    if conn.dialect.retryable(error) and attempt < ATTEMPTS:
                        self.retries += 1
                        time.sleep(random.uniform(0, min(PAUSE * 2 ** attempt, MAX_PAUSE)))
                        continue
                    for job in runnable:
                        job.error = error
                    return
                for listener in self.listeners if stored else ():
                    try:
                        listener(stored)
                    except Exception:
                        # Committed is committed: a broken fan-out must not fail the writes.
                        log.exception("a commit listener failed")
                return

    def _apply(self, conn, job: _Job, guarded: bool, now: int) -> None:
        if guarded:
            conn.execute("SAVEPOINT change")
        self._local.active = True
        try:
            job.result, events = job.change(conn)
            job.events = [e for e in events if e is not None]
            job.rows = event_log.rows_for(job.events, now)
        except Exception as error:
            if conn.dialect.retryable(error):
                raise                           # the batch's, not the change's: run it again
            job.error = error
            if not guarded:
                raise _Failed from error
            conn.execute("ROLLBACK TO change")
        finally:
            self._local.active = False
        if guarded:
            conn.execute("RELEASE change")

    def _record(self, conn, jobs: list[_Job]) -> list[tuple[Envelope, dict | None]]:
        """The jobs' events into the log, in job order; (envelope, scope) for fan-out."""
        events = [e for job in jobs for e in job.events]
        if not events:
            return []
        rows = [row for job in jobs for row in job.rows]
        ids = iter(event_log.append(conn, rows))
        stored = []
        for job in jobs:
            for e, row in zip(job.events, job.rows):
                envelope = Envelope(id=next(ids), type=e.type, source=e.source, subject=e.subject,
                                    time=row[3], data=e.data)
                if job.depth:
                    envelope.depth = job.depth
                stored.append((envelope, e.scope))
        return stored

    def close(self) -> None:
        self.conn.close()

"""Which process runs the periodic work (reap cycle, lifecycle manager)
when several share one PostgreSQL database. (Callback delivery needs no
leader: every process sends, each delivery taken by a per-row claim,
callbacks.py; interval automations are claimed by a conditional UPDATE.)

The leader is the process holding a session-level advisory lock on its
own dedicated connection. It keeps it as long as that connection lives;
when its process dies, PostgreSQL ends the session and frees the lock, and
the next tick of another process takes it: the work hands over within one
interval, and never runs in two processes at once. On SQLite there is one
process, always the leader.
"""
import logging
import threading

log = logging.getLogger("relay.leader")


class SoleProcess:
    """SQLite: the one process does everything."""

    def holds(self) -> bool:
        return True

    def close(self) -> None:
        pass


class Leader:
    def __init__(self, url: str):
        from .dialects import postgres
        self.pg = postgres
        self.url = url
        self._conn = None
        self._held = False
        self._lock = threading.Lock()

    def holds(self) -> bool:
        """Whether this process leads now (taking the lead when it is free)."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn, self._held = self.pg.connect(self.url), False
                if self._held:
                    self._conn.execute("SELECT 1")      # the session, and so the lock, lives
                    return True
                self._held = bool(self._conn.execute(
                    f"SELECT pg_try_advisory_lock({self.pg.LEADER_LOCK})").fetchone()[0])
                if self._held:
                    log.info("this process now runs the periodic work")
                return self._held
            except self.pg.Error as error:
                log.warning("leader connection lost: %s", error)
                self._drop()
                return False

    def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()

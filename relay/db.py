"""SQLite connections, transactions, and the schema's version.

Every connection runs in autocommit mode; writes open their own
`BEGIN IMMEDIATE` so concurrent writers queue on SQLite's lock instead of
failing halfway through with "database is locked".
"""
import os
import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 3

# version -> SQL that brings a database from version-1 to version. A new
# schema change adds a row here *and* edits schema.sql, so new and old
# databases end up the same.
MIGRATIONS: dict[int, str] = {
    # 2: the command bus, and the 24 h start window of a managed agent.
    2: """
ALTER TABLE managed_agents ADD COLUMN recent_starts TEXT NOT NULL DEFAULT '[]';
CREATE TABLE commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    source TEXT NOT NULL, target TEXT NOT NULL, correlation_id TEXT,
    params TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'pending', result TEXT,
    error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL);
CREATE INDEX commands_target ON commands (target, status, seq);
CREATE INDEX commands_pending ON commands (expires_at) WHERE status = 'pending';
CREATE INDEX commands_correlation ON commands (correlation_id) WHERE correlation_id IS NOT NULL;
""",
    # 3: recipe instances and their roles, automations and their runs. IF NOT EXISTS: a database made at
    # version 3 and set back by a test of an older step already has them.
    3: """
CREATE TABLE IF NOT EXISTS recipe_instances (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, recipe TEXT NOT NULL,
    orchestrator_id TEXT NOT NULL, cwd TEXT, vars TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL, stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS recipe_roles (
    instance_id TEXT NOT NULL REFERENCES recipe_instances (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, role TEXT NOT NULL, provider TEXT NOT NULL, label TEXT,
    status TEXT NOT NULL, spawn_request_id TEXT NOT NULL UNIQUE, command_id TEXT,
    agent_id TEXT, tmux_session TEXT, error TEXT, updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, position));
CREATE INDEX IF NOT EXISTS recipe_roles_waiting ON recipe_roles (status)
    WHERE status IN ('starting', 'stopping');
CREATE TABLE IF NOT EXISTS automations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1, trigger TEXT NOT NULL, action TEXT NOT NULL,
    next_run_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS automation_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    automation_id TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    trigger TEXT NOT NULL, event_id INTEGER, depth INTEGER NOT NULL, status TEXT NOT NULL,
    result TEXT, error TEXT, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS automation_runs_of ON automation_runs (automation_id, id);
""",
}


class SchemaError(RuntimeError):
    pass


class Connection(sqlite3.Connection):
    """A connection that knows its database's in-process write lock."""
    write_lock: threading.Lock


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock_for(path: str) -> threading.Lock:
    # SQLite admits one writer at a time; a waiting writer sleeps in its busy
    # handler with growing back-off (1, 2, 5, 10 ms ...). Queueing this
    # process's writers on a lock first hands the database over without sleeps.
    key = os.path.realpath(path)
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def connect(path: str, synchronous: str = "FULL") -> Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0,
                           factory=Connection)
    conn.write_lock = write_lock_for(path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'NORMAL' if synchronous.upper() == 'NORMAL' else 'FULL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@contextmanager
def transaction(conn: Connection):
    """One write transaction: commits on success, rolls back on any error."""
    with conn.write_lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def init(path: str) -> int:
    """Create or migrate the database at `path`; returns its schema version."""
    conn = connect(path)
    try:
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"database {path} has schema version {version}, newer than this relay "
                    f"({SCHEMA_VERSION}); upgrade relay")
            if version == 0:
                for statement in _statements(SCHEMA_PATH.read_text()):
                    conn.execute(statement)
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return SCHEMA_VERSION
    finally:
        conn.close()


def _statements(script: str):
    # executescript() would COMMIT our transaction first; splitting keeps the
    # whole schema change atomic. complete_statement() respects quoted ';'.
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""


class Pool:
    """Idle connections to one database, reused across requests.

    Opening a connection and setting its pragmas costs more than a small
    query, so each request borrows one and gives it back at teardown.
    """

    def __init__(self, path: str, synchronous: str = "FULL", size: int = 64):
        self.path = path
        self.synchronous = synchronous
        self._idle: queue.LifoQueue = queue.LifoQueue(maxsize=size)

    def acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return connect(self.path, self.synchronous)

    def release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

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

from .store import search_sqlite

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 7
INCREMENTAL = 2           # PRAGMA auto_vacuum value

# version -> SQL that brings a database from version-1 to version. A new
# schema change adds a row here *and* edits schema.sql, so new and old
# databases end up the same.
MIGRATIONS: dict[int, str] = {
    # Closed-loop tasks: who opened a task, its history, its callbacks, integrations.
    2: """
ALTER TABLE tasks ADD COLUMN integration TEXT;
-- At most one live (non-final) task per dedupeKey: a duplicate folds into it.
CREATE UNIQUE INDEX tasks_dedupe ON tasks (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('open', 'claimed', 'in_progress', 'blocked');
CREATE INDEX tasks_claims ON tasks (claim_expires_at) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_claimed_by ON tasks (claimed_by, id) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_target ON tasks (target, id) WHERE target IS NOT NULL;

-- A task's history: created, duplicate, claimed, released, status, progress, ...
CREATE TABLE task_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,      -- the task's status after this event
    note        TEXT,
    agent_id    TEXT,
    progress    INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX task_events_task ON task_events (task_id, id);

-- Callback deliveries, written in the transaction of the change that causes
-- them, so a relay that stops before sending finishes them after restart.
-- `body` is the exact bytes sent (and signed); no foreign key: a delivery
-- already owed still goes out after its task is deleted.
CREATE TABLE callback_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          INTEGER NOT NULL,
    event            TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,
    signature        TEXT,
    status           TEXT NOT NULL DEFAULT 'pending',     -- pending, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    response_status  INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX callback_deliveries_pending ON callback_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX callback_deliveries_task ON callback_deliveries (task_id, id);

-- External systems with their own tokens (API.md §5); only the token's
-- sha256 is kept. origin 'env' rows mirror RELAY_INTEGRATION_TOKENS.
CREATE TABLE integrations (
    name           TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    scopes         TEXT NOT NULL DEFAULT '[]',
    secret         TEXT,
    origin         TEXT NOT NULL DEFAULT 'api',
    event_count    INTEGER NOT NULL DEFAULT 0,
    last_event_at  INTEGER,
    created_at     INTEGER NOT NULL
);
""",
    # pools remember members and order picks; channels, channel bindings and events; pairs
    3: "ALTER TABLE pool_picks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;\n" + """
-- Pools remember whom they matched (pool.binding.changed tells a change) and,
-- for least-recent, each member's last pick (0: never): a pick walks
-- pool_members_turn to the first online member instead of sorting them all.
CREATE TABLE pool_members (
    pool      TEXT NOT NULL REFERENCES pools (name) ON DELETE CASCADE,
    agent_id  TEXT NOT NULL,
    online    INTEGER NOT NULL,
    seq       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, agent_id)
);
CREATE INDEX pool_members_agent ON pool_members (agent_id);
CREATE INDEX pool_members_turn ON pool_members (pool, seq, agent_id);
CREATE INDEX pool_picks_seq ON pool_picks (pool, seq);

-- Channels (API.md §5): an outside conversation and its bindings to agents.
CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE channel_bindings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- also the creation order
    channel      TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    mode         TEXT NOT NULL DEFAULT 'exclusive',
    direction    TEXT NOT NULL DEFAULT 'both',
    priority     INTEGER NOT NULL DEFAULT 100,
    created_at   INTEGER NOT NULL
);
CREATE INDEX channel_bindings_channel ON channel_bindings (channel, priority, id);
-- An inbound event's idempotencyKey and what it was routed to, answered again on a repeat.
CREATE TABLE channel_events (
    channel          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    message_ids      TEXT NOT NULL,
    routes           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (channel, idempotency_key)
);

-- Pairs (API.md §7): exclusive one-to-one sessions.
CREATE TABLE pairs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    from_agent         TEXT NOT NULL,
    to_agent           TEXT NOT NULL,
    topic              TEXT,
    status             TEXT NOT NULL DEFAULT 'pending',
    invite_message_id  INTEGER,
    ended_by           TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
);
-- The exclusivity check of an invite reads these: an agent's open pairs either way.
CREATE INDEX pairs_open_from ON pairs (from_agent) WHERE status IN ('pending', 'active');
CREATE INDEX pairs_open_to ON pairs (to_agent) WHERE status IN ('pending', 'active');
CREATE INDEX pairs_pending ON pairs (expires_at) WHERE status = 'pending';
""",
    # 4: the command bus, and the 24 h start window of a managed agent.
    4: """
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
    # 5: recipe instances and their roles, automations and their runs.
    5: """
CREATE TABLE recipe_instances (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, recipe TEXT NOT NULL,
    orchestrator_id TEXT NOT NULL, cwd TEXT, vars TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL, stop_requested INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE recipe_roles (
    instance_id TEXT NOT NULL REFERENCES recipe_instances (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, role TEXT NOT NULL, provider TEXT NOT NULL, label TEXT,
    status TEXT NOT NULL, spawn_request_id TEXT NOT NULL UNIQUE, command_id TEXT,
    agent_id TEXT, tmux_session TEXT, error TEXT, updated_at INTEGER NOT NULL,
    PRIMARY KEY (instance_id, position));
CREATE INDEX recipe_roles_waiting ON recipe_roles (status)
    WHERE status IN ('starting', 'stopping');
CREATE TABLE automations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1, trigger TEXT NOT NULL, action TEXT NOT NULL,
    next_run_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE automation_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    automation_id TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    trigger TEXT NOT NULL, event_id INTEGER, depth INTEGER NOT NULL, status TEXT NOT NULL,
    result TEXT, error TEXT, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL);
CREATE INDEX automation_runs_of ON automation_runs (automation_id, id);
""",
    # 6: an orchestrator's own secret for proxied requests (README "Configuration",
    # outbound requests); what a callback delivery's sender needs (its host, who set
    # its URL, when it was sent again). Incremental auto-vacuum is switched on after the
    # transaction (init): SQLite changes it only outside one, with a VACUUM.
    6: """
ALTER TABLE orchestrators ADD COLUMN api_token TEXT;
ALTER TABLE callback_deliveries ADD COLUMN host TEXT;
ALTER TABLE callback_deliveries ADD COLUMN integration TEXT;
ALTER TABLE callback_deliveries ADD COLUMN retried_at INTEGER;
""",
    # 7: acknowledgements (message columns, receipts) and full-text search; the
    # search table indexes every message already stored.
    7: """
ALTER TABLE messages ADD COLUMN ack_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ack_by INTEGER;
ALTER TABLE messages ADD COLUMN max_deliveries INTEGER;
ALTER TABLE messages ADD COLUMN escalate_to TEXT;
CREATE TABLE receipts (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'queued',
    owed INTEGER NOT NULL DEFAULT 1, delivered_at INTEGER, seen_at INTEGER, read_at INTEGER,
    acked_at INTEGER, acked_by TEXT, note TEXT, delivery_count INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER, redelivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, agent_id));
CREATE INDEX receipts_due ON receipts (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX receipts_redelivered ON receipts (agent_id, message_id) WHERE redelivered = 1;
CREATE INDEX receipts_pending ON receipts (agent_id, message_id) WHERE owed = 1 AND state != 'acked';
CREATE INDEX receipts_overdue ON receipts (message_id) WHERE state = 'overdue';
""" + search_sqlite.SCHEMA + search_sqlite.INDEX_EXISTING,
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
    """Create or migrate the database at `path`; returns its schema version.
    A file that cannot be opened or is not SQLite is a SchemaError saying so."""
    try:
        conn = connect(path)
    except sqlite3.Error as error:
        where = os.path.abspath(path)
        hint = ("its folder does not exist" if not os.path.isdir(os.path.dirname(where))
                else "is it an SQLite database?")
        raise SchemaError(f"cannot use the database {where}: {error} ({hint})") from None
    try:
        # A new file takes incremental auto-vacuum before its first table; an older
        # one is converted once by the VACUUM below (README "Configuration", retention).
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"database {path} has schema version {version}, newer than this relay "
                    f"({SCHEMA_VERSION}); upgrade relay")
            if version == 0:
                for statement in _statements(SCHEMA_PATH.read_text() + search_sqlite.SCHEMA):
                    conn.execute(statement)
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
            conn.execute("VACUUM")       # applies the auto_vacuum mode set above
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

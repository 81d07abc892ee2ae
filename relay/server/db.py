"""Connections, transactions, and the schema's version, on either engine.

RELAY_DB picks the engine (dialects/): a SQLite path (the default) or a
postgresql:// URL. Every connection runs in autocommit mode; writes open
their own transaction with `dialect.begin()`: on SQLite BEGIN IMMEDIATE,
which makes the writer the database's only one until COMMIT, so concurrent
writers queue instead of failing halfway; on PostgreSQL a SERIALIZABLE
transaction that runs concurrently with other processes' and takes an
append lock only for its inserts into messages and events, so their ids
commit in order (dialects/postgres.py says why that technique). A
conflict is run again by the committer. The schema change and copy-db run
alone instead (transaction(): `dialect.begin_exclusive()`).
"""
import os
from contextlib import contextmanager
from pathlib import Path

from . import dialects

# relay/server/schema.sql links to the top-level schema.sql in a checkout and is
# a copy of it in a built wheel (package data), so every install can create a database.
SCHEMA_PATH = Path(__file__).with_name("schema.sql")
SCHEMA_VERSION = 9

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

-- External systems with their own tokens (README: Bridging a Slack channel); only the token's
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

-- Channels: an outside conversation and its bindings to agents.
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

-- Pairs: exclusive one-to-one sessions.
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
    # search part is the engine's (SEARCH_STEP below), and indexes every message
    # already stored.
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
""",
    # Whom each event concerns, indexed (schema.sql: event_targets); the rows
    # of events already logged are filled in by MIGRATION_STEPS[8].
    8: """
CREATE TABLE event_targets (
    target    TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    PRIMARY KEY (target, event_id)
) WITHOUT ROWID;
""",
    # Messages per kind (schema.sql: message_counts), counted once here from the
    # messages already stored; from then on each insert and delete keeps them.
    9: """
CREATE TABLE message_counts (
    kind  TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO message_counts (kind, n) SELECT kind, count(*) FROM messages GROUP BY kind;
""",
}
# The migration whose step also makes the engine's search index (SQLite: an FTS5
# table and its triggers; PostgreSQL: a generated tsvector column and a GIN index).
SEARCH_STEP = 7


def _fill_event_targets(conn) -> None:
    from .store import event_log       # the store imports nothing of db: no cycle
    event_log.index_logged(conn)


# version -> what a migration does besides its SQL (data both engines read
# the same way in Python but spell differently in SQL), run right after it.
MIGRATION_STEPS = {8: _fill_event_targets}


class SchemaError(RuntimeError):
    pass


def dialect_of(url: str):
    return dialects.for_url(url)


def connect(url: str, synchronous: str = "FULL"):
    """A connection to RELAY_DB (a SQLite path or a PostgreSQL URL) in autocommit
    mode; `conn.dialect` is its engine's module."""
    return dialect_of(url).connect(url, synchronous)


def ConnectionPool(url: str, synchronous: str = "FULL", size: int = 64, pg_size: int = 16):
    """Idle connections reused across requests (dialects/*.py: Pool)."""
    if dialects.is_postgres(url):
        return dialect_of(url).Pool(url, synchronous, pg_size)
    return dialect_of(url).Pool(url, synchronous, size)


@contextmanager
def transaction(conn):
    """One write transaction that no other transaction() overlaps (a schema change,
    a copy-db): commits on success, rolls back on any error."""
    with conn.write_lock:
        conn.dialect.begin_exclusive(conn)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def init(url: str) -> int:
    """Create or migrate the database at `url`; returns its schema version.
    Both engines run the same schema and migrations (dialect.ddl spells the types).
    A database that cannot be opened (or a file that is not SQLite) is a SchemaError."""
    dialect = dialect_of(url)
    try:
        conn = connect(url)
    except dialect.Error as error:
        raise SchemaError(f"cannot use the database {url_shown(url)}: {error} "
                          f"({dialect.open_hint(url)})") from None
    try:
        dialect.before_schema(conn)
        with transaction(conn):
            version = dialect.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"database {url_shown(url)} has schema version {version}, newer than this "
                    f"relay ({SCHEMA_VERSION}); upgrade relay")
            if version == 0:
                search = dialect.search_store()
                for statement in dialect.statements(dialect.ddl(SCHEMA_PATH.read_text())
                                                    + search.SCHEMA):
                    conn.execute(statement)
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    script = dialect.ddl(MIGRATIONS[step])
                    if step == SEARCH_STEP:
                        search = dialect.search_store()
                        script += search.SCHEMA + search.INDEX_EXISTING
                    for statement in dialect.statements(script):
                        conn.execute(statement)
                    if step in MIGRATION_STEPS:
                        MIGRATION_STEPS[step](conn)
            dialect.set_schema_version(conn, SCHEMA_VERSION)
        dialect.after_schema(conn)
        # Each start: the planner's statistics, as of what the database holds.
        dialect.analyse(conn)
        return SCHEMA_VERSION
    finally:
        conn.close()


def url_shown(url: str) -> str:
    """RELAY_DB as the relay shows it: a SQLite file's absolute path, a URL without its password."""
    if dialects.is_postgres(url):
        return dialect_of(url).redacted(url)
    return os.path.abspath(url)

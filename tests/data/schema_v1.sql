-- relay's whole schema. Applied to a new database by relay/db.py, which then
-- sets PRAGMA user_version; an older database is brought forward by the
-- numbered migrations in relay/db.py instead. JSON fields are TEXT holding JSON.

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'provider',
    label         TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    capabilities  TEXT NOT NULL DEFAULT '[]',
    machine       TEXT,
    rig           TEXT,
    cwd           TEXT,
    status        TEXT NOT NULL DEFAULT 'online',
    ready         INTEGER NOT NULL DEFAULT 1,
    instance_id   TEXT NOT NULL,
    epoch         INTEGER NOT NULL DEFAULT 1,
    meta          TEXT NOT NULL DEFAULT '{}',
    last_seen     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- The reaper's presence scans.
CREATE INDEX agents_status_seen ON agents (status, last_seen);
CREATE INDEX agents_label ON agents (label);

CREATE TABLE activity (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   TEXT UNIQUE,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT,
    icon        TEXT,
    view        TEXT,
    agent_id    TEXT,
    meta        TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
CREATE INDEX activity_kind ON activity (kind, id);
CREATE INDEX activity_agent ON activity (agent_id, id);

CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    from_agent         TEXT NOT NULL,
    to_addr            TEXT NOT NULL,
    kind               TEXT NOT NULL DEFAULT 'chat',
    subject            TEXT,
    body               TEXT NOT NULL,
    payload            TEXT NOT NULL DEFAULT '{}',
    meta               TEXT NOT NULL DEFAULT '{}',
    channel            TEXT,
    reply_to           INTEGER,
    thread_id          INTEGER,          -- NULL for a root: its thread is its own id
    claimable          INTEGER NOT NULL DEFAULT 0,
    claim_ttl_seconds  INTEGER NOT NULL DEFAULT 300,
    claimed_by         TEXT,
    claimed_at         INTEGER,
    claim_expires_at   INTEGER,
    idempotency_key    TEXT,
    read_by            TEXT NOT NULL DEFAULT '[]',
    delivery_status    TEXT NOT NULL DEFAULT 'delivered',
    resolved_to        TEXT,             -- the agent a pool:/policy:/orchestrator: address resolved to
    expires_at         INTEGER,
    created_at         INTEGER NOT NULL
);
-- The inbox poll: one range seek per address the agent answers to.
CREATE INDEX messages_to ON messages (to_addr, id);
CREATE INDEX messages_resolved ON messages (resolved_to, id) WHERE resolved_to IS NOT NULL;
CREATE UNIQUE INDEX messages_idempotency ON messages (from_agent, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_thread ON messages (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX messages_claims ON messages (claim_expires_at) WHERE claimed_by IS NOT NULL;
CREATE INDEX messages_claimed_by ON messages (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX messages_queued ON messages (delivery_status, to_addr, id)
    WHERE delivery_status = 'queued';
CREATE INDEX messages_from ON messages (from_agent, id);
CREATE INDEX messages_channel ON messages (channel, id) WHERE channel IS NOT NULL;

CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    type     TEXT NOT NULL,
    source   TEXT NOT NULL,
    subject  TEXT,
    time     INTEGER NOT NULL,
    data     TEXT NOT NULL,
    scope    TEXT               -- JSON {to, agents}: whom the event concerns, for agentId filters
);

CREATE TABLE pools (
    name        TEXT PRIMARY KEY,
    selector    TEXT NOT NULL DEFAULT '{}',
    strategy    TEXT NOT NULL DEFAULT 'round-robin',
    last_pick   TEXT,               -- round-robin: the member picked last
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE pool_picks (
    pool       TEXT NOT NULL REFERENCES pools (name) ON DELETE CASCADE,
    agent_id   TEXT NOT NULL,
    picked_at  INTEGER NOT NULL,
    PRIMARY KEY (pool, agent_id)
);

CREATE TABLE config_entries (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT,               -- NULL once deleted; the row keeps the version counting
    version     INTEGER NOT NULL,
    updated_by  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE config_history (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    value       TEXT,
    action      TEXT NOT NULL,
    updated_by  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, key, version)
);

CREATE TABLE managed_agents (
    policy_name           TEXT PRIMARY KEY,
    status                TEXT NOT NULL DEFAULT 'stopped',
    agent_id              TEXT,
    orchestrator_id       TEXT,
    provider              TEXT,
    tmux_session          TEXT,
    spawn_request_id      TEXT,
    last_spawn_at         INTEGER,
    last_stop_at          INTEGER,
    healthy_since         INTEGER,
    restart_count         INTEGER NOT NULL DEFAULT 0,
    restarts_today        INTEGER NOT NULL DEFAULT 0,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       INTEGER,
    last_error            TEXT,
    last_activity_at      INTEGER,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE orchestrators (
    id              TEXT PRIMARY KEY,
    hostname        TEXT,
    agent_id        TEXT NOT NULL,
    providers       TEXT NOT NULL DEFAULT '[]',
    base_dir        TEXT,
    api_url         TEXT,
    version         TEXT,
    capabilities    TEXT NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL DEFAULT 'online',
    managed_agents  TEXT NOT NULL DEFAULT '[]',
    meta            TEXT NOT NULL DEFAULT '{}',
    last_heartbeat  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

-- Closed-loop work items; its routes arrive with the tasks issue,
-- health already counts the open ones.
CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    title             TEXT NOT NULL,
    body              TEXT,
    severity          TEXT NOT NULL DEFAULT 'medium',
    status            TEXT NOT NULL DEFAULT 'open',
    source            TEXT,
    dedupe_key        TEXT,
    target            TEXT,
    claimed_by        TEXT,
    claim_expires_at  INTEGER,
    callback_url      TEXT,
    payload           TEXT NOT NULL DEFAULT '{}',
    meta              TEXT NOT NULL DEFAULT '{}',
    result            TEXT,
    occurrences       INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    resolved_at       INTEGER
);
CREATE INDEX tasks_status ON tasks (status, id);

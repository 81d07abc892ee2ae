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
    created_at         INTEGER NOT NULL,
    -- Acknowledgements (README "Acknowledgements and receipts"); added by migration 7.
    ack_required       INTEGER NOT NULL DEFAULT 0,
    ack_by             INTEGER,          -- the first deadline; ack_by - created_at is the window
    max_deliveries     INTEGER,
    escalate_to        TEXT
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
-- Messages per kind, changed in the transaction of each message's insert and delete
-- (store/messages.py), so /api/stats reads as many rows as there are kinds, not messages.
CREATE TABLE message_counts (
    kind  TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    type     TEXT NOT NULL,
    source   TEXT NOT NULL,
    subject  TEXT,
    time     INTEGER NOT NULL,
    data     TEXT NOT NULL,
    scope    TEXT               -- JSON {to, agents}: whom the event concerns, for agentId filters
);

-- Whom each event concerns, one row per agent and `to` address of its scope:
-- one agent's view of the log (agentId) reads its rows here instead of the
-- whole log (the summary of GET /api/events/recent). Rows of trimmed events
-- go with them.
CREATE TABLE event_targets (
    target    TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    PRIMARY KEY (target, event_id)
) WITHOUT ROWID;

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
    seq        INTEGER NOT NULL DEFAULT 0,   -- least-recent: the order of picks within a pool
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
    updated_at            INTEGER NOT NULL,
    recent_starts         TEXT NOT NULL DEFAULT '[]'    -- start times within 24 h (restart.maxPerDay)
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
    created_at      INTEGER NOT NULL,
    api_token       TEXT            -- write-only: sent on proxied requests, never answered
);

-- Closed-loop work items. `integration` names the integration that
-- opened the task: its secret signs the task's callbacks.
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
    resolved_at       INTEGER,
    integration       TEXT
);
CREATE INDEX tasks_status ON tasks (status, id);
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
    delivered_at     INTEGER,
    host             TEXT,      -- the URL's host:port: senders per receiver are capped
    integration      TEXT,      -- set by an integration token: loopback is not for it
    retried_at       INTEGER    -- a failed delivery sent again: its retry window starts here
);
CREATE INDEX callback_deliveries_pending ON callback_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX callback_deliveries_task ON callback_deliveries (task_id, id);

-- External systems with their own tokens; only the token's
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


-- The command bus from relay to orchestrators. seq orders a
-- target's poll oldest first; id is the public cmd_<uuid4 hex>.
CREATE TABLE commands (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    source          TEXT NOT NULL,
    target          TEXT NOT NULL,
    correlation_id  TEXT,
    params          TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'pending',
    result          TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
-- What an orchestrator polls: its pending commands, oldest first.
CREATE INDEX commands_target ON commands (target, status, seq);
CREATE INDEX commands_pending ON commands (expires_at) WHERE status = 'pending';
CREATE INDEX commands_correlation ON commands (correlation_id) WHERE correlation_id IS NOT NULL;

-- Recipe instances: a team started from a recipe, one row per role.
-- seq orders the list newest first; a role is found by its spawn request
-- (a command's params, an agent's meta) through the unique index.
CREATE TABLE recipe_instances (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    recipe           TEXT NOT NULL,
    orchestrator_id  TEXT NOT NULL,
    cwd              TEXT,
    vars             TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL,
    stop_requested   INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE TABLE recipe_roles (
    instance_id       TEXT NOT NULL REFERENCES recipe_instances (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    role              TEXT NOT NULL,
    provider          TEXT NOT NULL,
    label             TEXT,
    status            TEXT NOT NULL,
    spawn_request_id  TEXT NOT NULL UNIQUE,
    command_id        TEXT,
    agent_id          TEXT,
    tmux_session      TEXT,
    error             TEXT,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (instance_id, position)
);
-- What the reap cycle looks at: roles still waiting on a command.
CREATE INDEX recipe_roles_waiting ON recipe_roles (status) WHERE status IN ('starting', 'stopping');

-- Automations: a trigger and an action; interval ones wait for
-- next_run_at. Runs are kept per automation, newest first (the last 200).
CREATE TABLE automations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    trigger      TEXT NOT NULL,
    action       TEXT NOT NULL,
    next_run_at  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE automation_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    automation_id  TEXT NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    trigger        TEXT NOT NULL,
    event_id       INTEGER,
    depth          INTEGER NOT NULL,
    status         TEXT NOT NULL,
    result         TEXT,
    error          TEXT,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL
);
CREATE INDEX automation_runs_of ON automation_runs (automation_id, id);

-- Receipts (README "Acknowledgements and receipts"): one row per recipient of a
-- message sent with ackRequired, and none for any other message, so an
-- ordinary poll writes nothing. `owed`: a recipient the sender waits for (matched
-- when it was sent or resolved); a later reader of a group message has a receipt
-- that owes nothing. `due_at` is the recipient's deadline (NULL once acked or
-- overdue, and for what is not owed); `redelivered` = 1 shows the message in the
-- inbox again, past the agent's cursor, until a poll or stream carries it.
CREATE TABLE receipts (
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued',   -- queued, delivered, read, acked, overdue
    owed            INTEGER NOT NULL DEFAULT 1,
    delivered_at    INTEGER,
    seen_at         INTEGER,
    read_at         INTEGER,
    acked_at        INTEGER,
    acked_by        TEXT,
    note            TEXT,
    delivery_count  INTEGER NOT NULL DEFAULT 0,
    due_at          INTEGER,
    redelivered     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, agent_id)
);
CREATE INDEX receipts_due ON receipts (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX receipts_redelivered ON receipts (agent_id, message_id) WHERE redelivered = 1;
CREATE INDEX receipts_pending ON receipts (agent_id, message_id) WHERE owed = 1 AND state != 'acked';
CREATE INDEX receipts_overdue ON receipts (message_id) WHERE state = 'overdue';
-- Full-text search is SQLite's FTS5 here: its table and triggers are made by
-- relay/store/search_sqlite.py (relay/db.py applies them after this file).

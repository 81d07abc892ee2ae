"""The inbox poll, the cursor and health use indexes, never a table scan."""
from relay.server import db
from relay.server.domain import messages as inbox_poll
from relay.server.store import messages, receipts, retention, system


class Recorder:
    def __init__(self, conn):
        self.conn, self.statements = conn, []
        self.dialect = conn.dialect

    def execute(self, sql, args=()):
        self.statements.append((sql, args))
        return self.conn.execute(sql, args)


def plan(conn, sql, args):
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]


def test_inbox_poll_uses_indexes(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    agent = {"id": "a", "label": "lead", "tags": ["py", "ops"], "capabilities": ["review"]}
    inbox_poll.inbox(recorder, agent, 0, since=10, unread=True, kind="chat")
    steps = plan(conn, *recorder.statements[0])
    assert "SEARCH messages USING INDEX messages_to (to_addr=? AND id>?)" in steps
    assert "SEARCH messages USING INDEX messages_resolved (resolved_to=? AND id>?)" in steps
    assert not any(s.startswith("SCAN messages") for s in steps), steps
    # Redeliveries past the cursor: one seek into a partial index, empty but for late acks.
    assert "SEARCH receipts USING INDEX receipts_redelivered (agent_id=? AND message_id<?)" in steps
    assert not any(s.startswith("SCAN receipts") for s in steps), steps
    # Narrowed to a channel, the planner may seek the channel index instead: still no scan.
    inbox_poll.inbox(recorder, agent, 0, since=10, channel="slack:ops")
    steps = plan(conn, *recorder.statements[1])
    assert any(s.startswith("SEARCH messages USING INDEX") for s in steps), steps
    assert not any(s.startswith("SCAN messages") for s in steps), steps


def test_cursor_uses_the_primary_key(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    messages.latest_id(recorder)
    steps = plan(conn, *recorder.statements[0])
    assert not any(s.startswith("SCAN") for s in steps), steps


def test_idempotency_and_queue_lookups_use_indexes(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    messages.find_idempotent(recorder, "a", "k")
    messages.queued_for(recorder, "pool:p")
    for statement in recorder.statements:
        assert not any(s.startswith("SCAN messages") for s in plan(conn, *statement)), statement


def test_health_counts_read_no_table(db_path):
    # Health is polled by monitors: at a million messages a table scan costs
    # a quarter of a second of CPU per call, and even count(*) over the
    # smallest index 9-17 ms. Populated and analysed: the plans the planner
    # picks with statistics.
    db.init(db_path)
    conn = db.connect(db_path)
    with db.transaction(conn):
        conn.executemany("INSERT INTO messages (from_agent, to_addr, body, created_at, delivery_status)"
                         " VALUES (?, ?, 'x', 0, ?)",
                         [("a", f"b{i % 40}", "queued" if i % 100 == 0 else "delivered")
                          for i in range(4000)])
        conn.executemany("INSERT INTO tasks (title, status, created_at, updated_at) VALUES (?, ?, 0, 0)",
                         [("t", "open" if i % 50 == 0 else "resolved") for i in range(2000)])
    conn.dialect.analyse(conn)
    recorder = Recorder(conn)
    system.health_counts(recorder, retention.figures(recorder, 0))
    assert any("FROM messages" in s[0] for s in recorder.statements)   # the figures were read
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert not any(s.startswith(("SCAN messages", "SCAN tasks")) or "TEMP B-TREE" in s
                       for s in steps), (statement, steps)


def test_stats_read_the_kind_counts_not_the_messages(db_path):
    # At a million messages, counting them by kind took ~400 ms per call;
    # message_counts holds one row per kind.
    db.init(db_path)
    conn = db.connect(db_path)
    with db.transaction(conn):
        for i in range(2000):
            messages.insert(conn, {"from": "a", "to": f"b{i % 40}", "body": "x",
                                   "kind": ("chat", "task")[i % 2]}, None, "delivered",
                            None, None, 0, None)
    conn.dialect.analyse(conn)
    recorder = Recorder(conn)
    assert system.stats(recorder)["messages"] == {"total": 2000,
                                                 "byKind": {"chat": 1000, "task": 1000}}
    assert any("FROM message_counts" in s[0] for s in recorder.statements)
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert not any(s.startswith("SCAN messages") for s in steps), (statement, steps)

def test_orchestrator_command_poll_and_expiry_use_indexes(db_path):
    from relay.server.store import commands
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    commands.listing(recorder, target="orchestrator-h1", status="pending", limit=100)
    steps = plan(conn, *recorder.statements[0])
    assert steps == ["SEARCH commands USING INDEX commands_target (target=? AND status=?)"], steps
    assert plan(conn, "SELECT id FROM commands WHERE status = 'pending' AND expires_at <= ?",
                (0,)) == ["SEARCH commands USING INDEX commands_pending (expires_at<?)"]


def _populated_events(db_path, count=5000):
    """An event log of `count` message events over 50 agents (and their
    event_targets rows), analysed as the reap leaves it."""
    from relay.server.store import event_log
    db.init(db_path)
    conn = db.connect(db_path)
    with db.transaction(conn):
        event_log.append(conn, [
            ("message.new", "x", str(i), 0, "{}",
             '{"to": "a%d", "agents": ["x"]}' % (i % 50) if i % 9 else '{"to": "tag:t", "agents": []}')
            for i in range(count)])
    conn.dialect.analyse(conn)
    return conn


def test_agent_view_of_the_log_reads_its_index(db_path):
    from relay.server.store import event_log
    conn = _populated_events(db_path)
    recorder = Recorder(conn)
    event_log.concerning(recorder, 10, 500, ["a7", "broadcast", "tag:t"])
    event_log.concerning(recorder, 10, 500, ["a7"], ["message.", "agent."])
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert any(s.startswith(("SEARCH event_targets USING PRIMARY KEY", "SEARCH t USING PRIMARY KEY"))
                   and s.endswith("(target=? AND event_id>?)") for s in steps), steps
        assert not any(s.startswith("SCAN") for s in steps), steps


def test_owed_callbacks_read_the_pending_index_once_analysed(db_path):
    # 200 000 deliveries, a few pending: without statistics the planner scans
    # them all every second (the callback worker's poll); a start analyses.
    from relay.server.store import deliveries
    db.init(db_path)
    conn = db.connect(db_path)
    with db.transaction(conn):
        conn.executemany(
            "INSERT INTO callback_deliveries (task_id, event, url, body, status, next_attempt_at,"
            " created_at) VALUES (?, 'e', 'u', 'b', ?, 0, 0)",
            [(i % 5000, "pending" if i % 1000 == 0 else "delivered") for i in range(200_000)])
    db.init(db_path)                # what each start does; its connections open after it
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    deliveries.any_due(recorder, 10)
    with db.transaction(conn):
        assert len(deliveries.claim(recorder, 10, 20, 8, {}, 4)) == 4     # one host's four
    look, claim = (plan(conn, *statement) for statement in recorder.statements)
    pending = "USING INDEX callback_deliveries_pending (next_attempt_at<?)"
    assert look == [f"SEARCH callback_deliveries {pending}"], look
    assert f"SEARCH d {pending}" in claim, claim
    assert not any(s.startswith(("SCAN callback_deliveries", "SCAN d", "SCAN e")) for s in claim)


def test_ack_deadlines_and_views_use_indexes(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    with db.transaction(conn):
        receipts.mark_overdue(recorder, 0)
        receipts.redeliver(recorder, 0)
    receipts.overdue(recorder, agent_id="a")
    inbox_poll.inbox(recorder, {"id": "a"}, 0, ack_pending=True)
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert not any(s.startswith(("SCAN receipts", "SCAN messages")) for s in steps), steps

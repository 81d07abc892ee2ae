"""The inbox poll, the cursor and health use indexes, never a table scan."""
from relay import db
from relay.store import messages, receipts, system


class Recorder:
    def __init__(self, conn):
        self.conn, self.statements = conn, []

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
    messages.inbox(recorder, agent, 0, since=10, unread=True, kind="chat")
    steps = plan(conn, *recorder.statements[0])
    assert "SEARCH messages USING INDEX messages_to (to_addr=? AND id>?)" in steps
    assert "SEARCH messages USING INDEX messages_resolved (resolved_to=? AND id>?)" in steps
    assert not any(s.startswith("SCAN messages") for s in steps), steps
    # Redeliveries past the cursor: one seek into a partial index, empty but for late acks.
    assert "SEARCH receipts USING INDEX receipts_redelivered (agent_id=? AND message_id<?)" in steps
    assert not any(s.startswith("SCAN receipts") for s in steps), steps
    # Narrowed to a channel, the planner may seek the channel index instead: still no scan.
    messages.inbox(recorder, agent, 0, since=10, channel="slack:ops")
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
    # a quarter of a second of CPU per call.
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    system.health_counts(recorder)
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert not any(s in ("SCAN messages", "SCAN tasks", "SCAN agents") or "TEMP B-TREE" in s
                       for s in steps), (statement, steps)


def test_orchestrator_command_poll_and_expiry_use_indexes(db_path):
    from relay.store import commands
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    commands.listing(recorder, target="orchestrator-h1", status="pending", limit=100)
    steps = plan(conn, *recorder.statements[0])
    assert steps == ["SEARCH commands USING INDEX commands_target (target=? AND status=?)"], steps
    assert plan(conn, "SELECT id FROM commands WHERE status = 'pending' AND expires_at <= ?",
                (0,)) == ["SEARCH commands USING INDEX commands_pending (expires_at<?)"]


def test_ack_deadlines_and_views_use_indexes(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    recorder = Recorder(conn)
    with db.transaction(conn):
        receipts.mark_overdue(recorder, 0)
        receipts.redeliver(recorder, 0)
    receipts.overdue(recorder, agent_id="a")
    messages.inbox(recorder, {"id": "a"}, 0, ack_pending=True)
    for statement in recorder.statements:
        steps = plan(conn, *statement)
        assert not any(s.startswith(("SCAN receipts", "SCAN messages")) for s in steps), steps

"""Retention (README "Configuration", retention): the reap cycle forgets what is old, in
bounded batches, keeps what is unsettled, and health reports each table."""
import pytest

from relay.server.settings import ConfigError, Settings, parse

DAY = 86400


@pytest.fixture
def make(app_factory):
    return app_factory


def post(client, path, body, status=(200, 201)):
    r = client.post(path, json=body)
    assert r.status_code in status, r.get_json()
    return r.get_json()


def test_old_settled_rows_go_and_unsettled_ones_stay(make, clock):
    client, relay_ = make(message_retention=10 * DAY, activity_retention=DAY,
                          task_retention=2 * DAY, command_retention=DAY)
    post(client, "/api/agents", {"id": "a"})
    old = post(client, "/api/messages", {"from": "z", "to": "a", "body": "old"})
    claimed = post(client, "/api/messages", {"from": "z", "to": "a", "body": "work",
                                             "claimable": True})
    post(client, f"/api/messages/{claimed['id']}/claim", {"agentId": "a", "ttlSeconds": 3600})
    done = post(client, "/api/tasks", {"title": "done"})
    post(client, f"/api/tasks/{done['id']}/status", {"status": "resolved"})
    live = post(client, "/api/tasks", {"title": "still open"})
    command = post(client, "/api/commands", {"type": "x.ping", "target": "a"})
    client.patch(f"/api/commands/{command['id']}", json={"status": "cancelled"})
    pending = post(client, "/api/commands", {"type": "x.ping", "target": "a",
                                             "ttlSeconds": 7 * DAY})
    post(client, "/api/activity", {"kind": "note", "title": "hello"})

    clock.advance(DAY + 1)
    report = client.post("/api/system/reap").get_json()
    assert report["prunedActivity"] >= 1 and report["prunedCommands"] == 1
    # What is left is what this cycle added (the agent went offline).
    assert all(e["createdAt"] == clock() for e in client.get("/api/activity").get_json())
    assert report["prunedTasks"] == report["prunedMessages"] == 0
    assert [c["id"] for c in client.get("/api/commands").get_json()] == [pending["id"]]

    clock.advance(DAY)
    report = client.post("/api/system/reap").get_json()
    assert report["prunedTasks"] == 1
    assert client.get(f"/api/tasks/{done['id']}").status_code == 404
    assert client.get(f"/api/tasks/{live['id']}").status_code == 200

    clock.advance(8 * DAY)
    report = client.post("/api/system/reap").get_json()
    # The message under a live claim (released by now: its ttl passed) goes too.
    assert report["prunedMessages"] == 2
    assert client.get("/api/stats").get_json()["messages"]["total"] == 0
    assert old["id"] < claimed["id"]


def test_a_message_under_a_live_claim_is_kept_until_settled(make, clock):
    client, relay_ = make(message_retention=60)
    post(client, "/api/agents", {"id": "a"})
    plain = post(client, "/api/messages", {"from": "z", "to": "a", "body": "p"})
    held = post(client, "/api/messages", {"from": "z", "to": "a", "body": "h", "claimable": True})
    post(client, f"/api/messages/{held['id']}/claim", {"agentId": "a", "ttlSeconds": 3600})
    clock.advance(61)
    assert client.post("/api/system/reap").get_json()["prunedMessages"] == 1
    assert [m["id"] for m in client.get("/api/messages?for=a&since=0").get_json()] == [held["id"]]
    clock.advance(3600)          # the claim expires: the cycle releases it, then it goes
    report = client.post("/api/system/reap").get_json()
    assert (report["releasedMessageIds"], report["prunedMessages"]) == ([held["id"]], 1)
    assert client.get("/api/messages?for=a&since=0").get_json() == []
    assert plain["id"] < held["id"]


def test_deletes_go_in_bounded_batches(make, clock):
    client, relay_ = make(activity_retention=60)
    relay_.reaper.retention.batch, relay_.reaper.retention.max_batches = 10, 3
    for i in range(75):
        post(client, "/api/activity", {"kind": "note", "title": f"n{i}"})
    clock.advance(61)              # 3 batches of 10 per cycle: a backlog takes cycles
    assert client.post("/api/system/reap").get_json()["prunedActivity"] == 30
    assert client.post("/api/system/reap").get_json()["prunedActivity"] == 30
    assert client.post("/api/system/reap").get_json()["prunedActivity"] == 15
    assert client.get("/api/activity").get_json() == []


def test_config_history_keeps_the_last_versions_of_each_key(make):
    client, _ = make(config_history=3)
    for i in range(6):
        assert client.put("/api/config/ops/k", json={"value": i}).status_code in (200, 201)
    client.put("/api/config/ops/other", json={"value": "x"})
    assert client.post("/api/system/reap").get_json()["prunedConfigHistory"] == 3
    history = client.get("/api/config/ops/k/history").get_json()
    assert [h["version"] for h in history] == [6, 5, 4]
    assert len(client.get("/api/config/ops/other/history").get_json()) == 1


def test_zero_keeps_forever(make, clock):
    client, _ = make(message_retention=0, activity_retention=0)
    post(client, "/api/activity", {"kind": "note", "title": "kept"})
    clock.advance(10 * 365 * DAY)
    report = client.post("/api/system/reap").get_json()
    assert "prunedActivity" not in report and "prunedMessages" not in report
    assert len(client.get("/api/activity").get_json()) == 1


def test_health_reports_each_table_cheaply(make, clock):
    client, _ = make()
    post(client, "/api/agents", {"id": "a"})
    for _ in range(3):
        post(client, "/api/messages", {"from": "z", "to": "a", "body": "b"})
    clock.advance(100)
    tables = client.get("/api/health").get_json()["tables"]
    assert tables["messages"] == {"rows": 3, "oldestAgeSeconds": 100}
    assert tables["activity"]["rows"] >= 1
    assert set(tables) >= {"messages", "activity", "tasks", "task_events", "commands",
                           "config_history", "channel_events", "events",
                           "callback_deliveries", "automation_runs"}


@pytest.mark.sqlite_only       # incremental auto-vacuum; PostgreSQL's autovacuum does this itself
def test_free_pages_are_given_back(make, clock, db_path):
    from relay.server import db
    from relay.server.dialects import sqlite as sqlite_dialect
    client, relay_ = make(activity_retention=60)
    for i in range(400):
        post(client, "/api/activity", {"kind": "note", "title": "t", "body": "x" * 2000})
    clock.advance(61)
    client.post("/api/system/reap")
    conn = db.connect(db_path)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == sqlite_dialect.INCREMENTAL
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    finally:
        conn.close()


def test_settings(db_path):
    s = parse({"RELAY_MESSAGE_RETENTION": "60", "RELAY_CONFIG_HISTORY": "5"})
    assert (s.message_retention, s.config_history) == (60, 5)
    assert (Settings().message_retention, Settings().task_retention,
            Settings().command_retention, Settings().activity_retention,
            Settings().config_history) == (7776000, 2592000, 604800, 604800, 100)
    with pytest.raises(ConfigError, match="RELAY_TASK_RETENTION must not be negative"):
        parse({"RELAY_TASK_RETENTION": "-1"})


def test_stats_count_what_retention_trims(make, clock):
    client, relay_ = make(message_retention=60)
    relay_.reaper.retention.batch = 2            # several batches, each its own commit
    post(client, "/api/agents", {"id": "a"})
    for kind in ("chat", "chat", "chat", "control", "task"):
        post(client, "/api/messages", {"from": "z", "to": "a", "body": "old", "kind": kind})
    held = post(client, "/api/messages", {"from": "z", "to": "a", "body": "held", "kind": "task",
                                          "claimable": True})
    post(client, f"/api/messages/{held['id']}/claim", {"agentId": "a", "ttlSeconds": 3600})
    clock.advance(61)
    post(client, "/api/messages", {"from": "z", "to": "a", "body": "new", "kind": "control"})
    assert client.post("/api/system/reap").get_json()["prunedMessages"] == 5
    assert client.get("/api/stats").get_json()["messages"] == {
        "total": 2, "byKind": {"control": 1, "task": 1}}

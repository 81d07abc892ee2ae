"""Presence (API.md §1) and the reap cycle (§11), driven by the injectable clock."""
import threading

from relay.reaper import Reaper

from .conftest import inbox, register, send


def reap(client):
    r = client.post("/api/system/reap")
    assert r.status_code == 200
    return r.get_json()


def status(client, agent_id):
    return client.get(f"/api/agents/{agent_id}").get_json()["status"]


def test_stale_offline_prune(client, clock):
    register(client, "a")
    register(client, "b", kind="orchestrator")
    register(client, "c", kind="user")
    clock.advance(89)
    assert reap(client)["staleAgentIds"] == []
    clock.advance(2)
    report = reap(client)
    assert report["staleAgentIds"] == ["a", "b", "c"]
    assert status(client, "a") == "stale"
    clock.advance(300 - 91 + 1)
    report = reap(client)
    assert report["offlineAgentIds"] == ["a", "b", "c"] and report["staleAgentIds"] == []
    assert status(client, "a") == "offline"
    clock.advance(604800)
    report = reap(client)
    assert report["prunedAgentIds"] == ["a"]               # orchestrator and user kept
    assert client.get("/api/agents/a").status_code == 404
    assert status(client, "b") == "offline"
    assert reap(client)["prunedAgentIds"] == []


def test_transitions_emit_status_and_activity(client, clock):
    register(client, "a")
    clock.advance(91)
    reap(client)
    events = client.get("/api/events/recent?since=2").get_json()
    assert [e["type"] for e in events] == ["agent.status", "activity.created"]
    assert events[0]["data"]["status"] == "stale"
    assert events[1]["data"]["title"] == "a is stale"
    feed = client.get("/api/activity?agentId=a").get_json()
    assert [e["title"] for e in feed] == ["a is stale", "a registered"]


def test_heartbeat_brings_stale_back(client, clock):
    register(client, "a")
    clock.advance(91)
    reap(client)
    assert client.post("/api/agents/a/heartbeat").get_json()["status"] == "online"
    assert client.get("/api/events/recent").get_json()[-1]["data"]["status"] == "online"


def test_any_call_as_the_agent_counts(client, clock):
    register(client, "a")
    register(client, "b")
    for _ in range(3):
        clock.advance(60)
        send(client, "a", "b")                 # sending as a
        inbox(client, "b")                     # polling as b
        reap(client)
    assert status(client, "a") == "online"
    assert status(client, "b") == "online"


def test_poll_brings_a_stale_agent_back(client, clock):
    register(client, "a")
    clock.advance(100)
    reap(client)
    assert status(client, "a") == "stale"
    inbox(client, "a")
    assert status(client, "a") == "online"


def test_reap_sets_last_reap_at(client, clock):
    assert client.get("/api/health").get_json()["lastReapAt"] is None
    reap(client)
    assert client.get("/api/health").get_json()["lastReapAt"] == clock()


def test_reap_report_lists_every_step(client):
    assert set(reap(client)) == {"releasedMessageIds", "expiredQueuedMessageIds", "staleAgentIds",
                                 "offlineAgentIds", "prunedAgentIds", "trimmedEvents",
                                 "releasedTaskIds", "releasedOrphanedTaskIds",
                                 "trimmedDeliveries", "expiredPairIds",
                                 "expiredCommandIds", "staleOrchestratorIds",
                                 "offlineOrchestratorIds", "failedRecipeInstanceIds",
                                 # retention (README "Configuration")
                                 "prunedMessages", "prunedChannelEvents", "prunedActivity",
                                 "prunedAutomationRuns", "prunedTasks", "prunedCommands",
                                 "prunedConfigHistory",
                                 # acknowledgements (README "Acknowledgements and receipts")
                                 "redeliveredReceipts", "overdueReceipts", "escalationMessageIds"}


def test_failing_step_does_not_stop_the_others(client, relay_, clock, caplog, monkeypatch):
    register(client, "a")
    clock.advance(91)

    def broken(conn, now):
        raise RuntimeError("disk on fire")
    broken.__name__ = "release_claims"
    monkeypatch.setattr(relay_.reaper, "release_claims", broken)
    report = reap(client)
    assert "releasedMessageIds" not in report
    assert report["staleAgentIds"] == ["a"]
    assert "reap step release_claims failed" in caplog.text


def test_reaper_thread_runs_and_stops(relay_):
    ran = threading.Event()
    reaper = Reaper(relay_, 0.01)
    original = reaper.run_once

    def counting():
        ran.set()
        return original()
    reaper.run_once = counting
    reaper.start()
    assert ran.wait(5)
    reaper.stop()
    assert not reaper.running


def test_reaper_thread_survives_a_failing_cycle(relay_):
    calls = []
    reaper = Reaper(relay_, 0.01)

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first cycle fails")
    reaper.run_once = flaky
    reaper.start()
    deadline = threading.Event()
    for _ in range(500):
        if len(calls) >= 3:
            break
        deadline.wait(0.01)
    reaper.stop()
    assert len(calls) >= 3


def test_event_log_trimmed_to_retention(db_path, clock):
    from relay import create_app
    from relay.config import Settings
    app = create_app(Settings(db=db_path, event_retention=5), clock)
    client = app.test_client()
    try:
        for i in range(10):
            register(client, f"a{i}")          # two events each
        assert reap(client)["trimmedEvents"] == 15
        ids = [e["id"] for e in client.get("/api/events/recent").get_json()]
        assert ids == [16, 17, 18, 19, 20]
    finally:
        app.extensions["relay"].stop()

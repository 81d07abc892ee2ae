"""Claims, exactly once."""
import http.client
import threading

import pytest

from relay.server import create_app
from relay.server.settings import Settings

from .conftest import inbox, register, send


@pytest.fixture
def work(client):
    for agent in ("boss", "w1", "w2"):
        register(client, agent, capabilities=["build"])
    return send(client, "boss", "cap:build", "build it", claimable=True, claimTtlSeconds=60)


def claim(client, message_id, agent_id, **extra):
    return client.post(f"/api/messages/{message_id}/claim", json={"agentId": agent_id, **extra})


def test_claim_then_others_conflict(client, work, clock):
    r = claim(client, work["id"], "w1")
    assert r.status_code == 200
    m = r.get_json()
    assert (m["claimedBy"], m["claimedAt"], m["claimExpiresAt"]) == ("w1", clock(), clock() + 60000)
    r = claim(client, work["id"], "w2")
    assert (r.status_code, r.get_json()) == (409, {"error": "already claimed by w1"})
    assert [x["id"] for x in inbox(client, "w1")] == [work["id"]]
    assert inbox(client, "w2") == []                         # claimed by someone else
    event = client.get("/api/events/recent?types=message.claimed").get_json()[-1]
    assert event["data"]["claimedBy"] == "w1"


def test_reclaim_extends_and_ttl_overrides(client, work, clock):
    first = claim(client, work["id"], "w1").get_json()
    clock.advance(30)
    again = claim(client, work["id"], "w1", ttlSeconds=600).get_json()
    assert again["claimedAt"] == first["claimedAt"]
    assert again["claimExpiresAt"] == clock() + 600000


def test_claim_expiry_by_reaper(client, work, clock):
    claim(client, work["id"], "w1")
    clock.advance(59)
    assert client.post("/api/system/reap").get_json()["releasedMessageIds"] == []
    assert claim(client, work["id"], "w2").status_code == 409
    clock.advance(1)
    # An expired claim can be taken even before the reaper runs.
    assert claim(client, work["id"], "w2").status_code == 200
    clock.advance(60)
    assert client.post("/api/system/reap").get_json()["releasedMessageIds"] == [work["id"]]
    assert client.get(f"/api/messages/{work['id']}").get_json()["claimedBy"] is None
    event = client.get("/api/events/recent?types=message.claim_released").get_json()[-1]
    assert (event["subject"], event["data"]["claimedBy"]) == (str(work["id"]), None)


def test_release(client, work):
    claim(client, work["id"], "w1")
    r = client.post(f"/api/messages/{work['id']}/release", json={"agentId": "w2"})
    assert (r.status_code, r.get_json()) == (409, {"error": f"message {work['id']} is claimed by w1, not w2"})
    r = client.post(f"/api/messages/{work['id']}/release", json={"agentId": "w1"})
    assert r.status_code == 200 and r.get_json()["claimedBy"] is None
    r = client.post(f"/api/messages/{work['id']}/release", json={"agentId": "w1"})
    assert (r.status_code, r.get_json()) == (409, {"error": f"message {work['id']} is not claimed"})
    assert claim(client, work["id"], "w2").status_code == 200
    assert client.get("/api/events/recent").get_json()[-2]["type"] == "message.claim_released"


def test_claim_errors(client, work):
    plain = send(client, "boss", "w1")
    r = claim(client, plain["id"], "w1")
    assert (r.status_code, r.get_json()) == (400, {"error": f"message {plain['id']} is not claimable"})
    assert claim(client, 999, "w1").get_json() == {"error": "message 999 not found"}
    assert claim(client, 999, "w1").status_code == 404
    assert claim(client, work["id"], "ghost").status_code == 404
    r = client.post(f"/api/messages/{work['id']}/claim", json={})
    assert (r.status_code, r.get_json()) == (400, {"error": "agentId is required"})
    r = claim(client, work["id"], "w1", ttlSeconds=0)
    assert (r.status_code, r.get_json()) == (400, {"error": "ttlSeconds must be an integer between 1 and 86400"})
    assert client.post(f"/api/messages/{work['id']}/release", json={}).status_code == 400


def test_claim_session_guard(client, work):
    register(client, "w1", capabilities=["build"], instanceId="p2")
    r = claim(client, work["id"], "w1", epoch=1)
    assert (r.status_code, r.get_json()) == (409, {"error": "stale agent session"})
    assert client.get(f"/api/messages/{work['id']}").get_json()["claimedBy"] is None
    assert claim(client, work["id"], "w1", epoch=2, instanceId="p2").status_code == 200


def test_pruned_holder_releases(db_path, clock):
    app = create_app(Settings(db=db_path, prune_after=600), clock)
    client = app.test_client()
    try:
        for agent in ("boss", "w1"):
            register(client, agent)
        m = send(client, "boss", "w1", claimable=True)
        claim(client, m["id"], "w1", ttlSeconds=86400)
        clock.advance(601)
        client.post("/api/agents/boss/heartbeat")
        report = client.post("/api/system/reap").get_json()
        assert report["releasedMessageIds"] == []           # the claim itself is still live
        assert (report["offlineAgentIds"], report["prunedAgentIds"]) == (["w1"], ["w1"])
        assert client.get(f"/api/messages/{m['id']}").get_json()["claimedBy"] is None
        released = client.get("/api/events/recent?types=message.claim_released").get_json()
        assert [e["subject"] for e in released] == [str(m["id"])]
    finally:
        app.extensions["relay"].stop()


def test_claim_race_exactly_one_winner(live):
    """30+ threads claim one message over real HTTP; exactly one 200, the rest 409."""
    workers = [f"w{i}" for i in range(32)]
    for w in workers:
        assert live.request("POST", "/api/agents", {"id": w, "capabilities": ["race"]})[0] == 201
    for round_ in range(20):
        status, message = live.request("POST", "/api/messages",
                                       {"from": "boss", "to": "cap:race", "body": f"job {round_}",
                                        "claimable": True})
        assert status == 201
        conns = [http.client.HTTPConnection("127.0.0.1", live.port, timeout=30) for _ in workers]
        for c in conns:
            c.connect()
        barrier = threading.Barrier(len(workers))
        results = {}

        def attempt(worker, c):
            barrier.wait()
            results[worker] = live.request("POST", f"/api/messages/{message['id']}/claim",
                                           {"agentId": worker}, conn=c)

        threads = [threading.Thread(target=attempt, args=(w, c)) for w, c in zip(workers, conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for c in conns:
            c.close()
        statuses = sorted(s for s, _ in results.values())
        assert len(statuses) == len(workers)
        assert statuses == [200] + [409] * (len(workers) - 1), statuses
        winner = next(w for w, (s, _) in results.items() if s == 200)
        losers = {body["error"] for s, body in results.values() if s == 409}
        assert losers == {f"already claimed by {winner}"}
        assert live.request("GET", f"/api/messages/{message['id']}")[1]["claimedBy"] == winner

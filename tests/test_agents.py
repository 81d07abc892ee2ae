"""Agents."""
import pytest

from .conftest import register, send


def test_register_creates_then_updates(client, clock):
    r = client.post("/api/agents", json={"id": "claude-1", "label": "reviewer", "tags": ["py"],
                                         "capabilities": ["review"], "machine": "m1",
                                         "instanceId": "i1", "meta": {"a": 1}})
    assert r.status_code == 201
    agent = r.get_json()
    assert agent == {**agent, "id": "claude-1", "name": "claude-1", "kind": "provider",
                     "label": "reviewer", "tags": ["py"], "capabilities": ["review"],
                     "machine": "m1", "status": "online", "ready": True, "instanceId": "i1",
                     "epoch": 1, "meta": {"a": 1}, "lastSeen": clock(), "createdAt": clock()}
    clock.advance(5)
    r = client.post("/api/agents", json={"id": "claude-1", "status": "busy"})
    assert r.status_code == 200
    updated = r.get_json()
    assert (updated["label"], updated["epoch"], updated["status"]) == ("reviewer", 1, "busy")
    assert updated["lastSeen"] == updated["updatedAt"] == clock()
    assert updated["createdAt"] == agent["createdAt"]


def test_new_instance_bumps_epoch(client):
    register(client, "a", instanceId="one")
    assert register(client, "a", instanceId="one")["epoch"] == 1
    assert register(client, "a", instanceId="two")["epoch"] == 2
    assert register(client, "a")["epoch"] == 2
    assert register(client, "a", instanceId="three")["epoch"] == 3


def test_instance_id_generated_when_missing(client):
    assert len(register(client, "a")["instanceId"]) == 16


@pytest.mark.parametrize("body,error", [
    ({}, "id is required"),
    ({"id": ""}, "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"id": 7}, "id must be a string"),
    ({"id": "a/b"}, "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"id": "x" * 241}, "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"id": "a", "kind": "robot"}, "kind must be one of provider, channel, orchestrator, system, user"),
    ({"id": "a", "status": "asleep"}, "status must be one of online, idle, busy, stale, offline"),
    ({"id": "a", "tags": "py"}, "tags must be a list of at most 100 non-empty strings of at most 120 characters"),
    ({"id": "a", "tags": [1]}, "tags must be a list of at most 100 non-empty strings of at most 120 characters"),
    ({"id": "a", "capabilities": ["x" * 121]}, "capabilities must be a list of at most 100 non-empty strings of at most 120 characters"),
    ({"id": "a", "tags": ["t"] * 101}, "tags must be a list of at most 100 non-empty strings of at most 120 characters"),
    ({"id": "a", "ready": "yes"}, "ready must be true or false"),
    ({"id": "a", "meta": []}, "meta must be a JSON object"),
    ({"id": "a", "label": 5}, "label must be a string"),
])
def test_register_rejects_bad_fields(client, body, error):
    r = client.post("/api/agents", json=body)
    assert r.status_code == 400
    assert r.get_json() == {"error": error}
    assert client.get("/api/agents").get_json() == []


def test_register_emits_status_and_activity(client, app):
    register(client, "a")
    events = client.get("/api/events/recent").get_json()
    assert [e["type"] for e in events] == ["agent.status", "activity.created"]
    assert events[1]["data"]["title"] == "a registered"
    register(client, "a")
    assert [e["type"] for e in client.get("/api/events/recent?since=2").get_json()] == ["agent.status"]


def test_list_filters(client):
    register(client, "a", tags=["py", "go"], capabilities=["review"], label="alpha")
    register(client, "b", tags=["py"], kind="user", status="busy")
    register(client, "c", status="offline", capabilities=["deploy"])
    ids = lambda q: [a["id"] for a in client.get("/api/agents" + q).get_json()]
    assert ids("") == ["a", "b", "c"]
    assert ids("?tag=py") == ["a", "b"]
    assert ids("?tag=go") == ["a"]
    assert ids("?capability=deploy") == ["c"]
    assert ids("?label=alpha") == ["a"]
    assert ids("?kind=user") == ["b"]
    assert ids("?status=busy") == ["b"]
    assert ids("?includeOffline=0") == ["a", "b"]
    assert ids("?includeOffline=true") == ["a", "b", "c"]
    assert client.get("/api/agents?status=nope").status_code == 400


def test_get_and_404(client):
    register(client, "a")
    assert client.get("/api/agents/a").get_json()["id"] == "a"
    r = client.get("/api/agents/zzz")
    assert r.status_code == 404
    assert r.get_json() == {"error": "agent zzz not found"}


def test_patch_merges_meta_and_emits(client):
    register(client, "a", meta={"x": 1, "y": 2}, label="old")
    r = client.patch("/api/agents/a", json={"meta": {"y": 3, "z": 4}, "status": "idle",
                                            "ready": False, "tags": ["t"], "capabilities": ["c"]})
    assert r.status_code == 200
    agent = r.get_json()
    assert agent["meta"] == {"x": 1, "y": 3, "z": 4}
    assert (agent["status"], agent["ready"], agent["tags"], agent["capabilities"]) == \
        ("idle", False, ["t"], ["c"])
    assert client.patch("/api/agents/a", json={"label": None}).get_json()["label"] is None
    types = [e["type"] for e in client.get("/api/events/recent").get_json()]
    assert types.count("agent.status") == 3


def test_patch_validation_and_404(client):
    register(client, "a")
    assert client.patch("/api/agents/a", json={"status": "gone"}).status_code == 400
    assert client.patch("/api/agents/a", json={"epoch": "one"}).get_json() == \
        {"error": "epoch must be an integer between 0 and 9007199254740992"}
    assert client.patch("/api/agents/nobody", json={"status": "idle"}).status_code == 404


@pytest.mark.parametrize("method,path,extra", [
    ("patch", "/api/agents/a", {"status": "idle"}),
    ("post", "/api/agents/a/heartbeat", {}),
])
def test_session_guard(client, method, path, extra):
    register(client, "a", instanceId="new")
    register(client, "a", instanceId="newer")          # epoch 2
    call = getattr(client, method)
    for stale in ({"instanceId": "new"}, {"epoch": 1}, {"instanceId": "newer", "epoch": 1}):
        r = call(path, json={**extra, **stale})
        assert r.status_code == 409
        assert r.get_json() == {"error": "stale agent session"}
    assert client.get("/api/agents/a").get_json()["status"] == "online"
    assert call(path, json={**extra, "instanceId": "newer", "epoch": 2}).status_code == 200


def test_heartbeat(client, clock):
    register(client, "a")
    clock.advance(30)
    r = client.post("/api/agents/a/heartbeat")
    assert r.status_code == 200
    assert r.get_json()["lastSeen"] == clock()
    assert client.post("/api/agents/a/heartbeat", json={"status": "busy"}).get_json()["status"] == "busy"
    r = client.post("/api/agents/ghost/heartbeat", json={})
    assert r.status_code == 404
    assert r.get_json() == {"error": "agent ghost not found"}
    assert client.post("/api/agents/a/heartbeat", json={"status": 3}).status_code == 400


def test_heartbeat_without_change_emits_nothing(client):
    register(client, "a")
    before = client.get("/api/messages/cursor")  # any read
    count = len(client.get("/api/events/recent").get_json())
    client.post("/api/agents/a/heartbeat")
    assert len(client.get("/api/events/recent").get_json()) == count
    assert before.status_code == 200


def test_delete_releases_claims(client):
    register(client, "a")
    register(client, "b")
    m = send(client, "b", "a", claimable=True)
    assert client.post(f"/api/messages/{m['id']}/claim", json={"agentId": "a"}).status_code == 200
    r = client.delete("/api/agents/a")
    assert (r.status_code, r.get_json()) == (200, {"ok": True})
    assert client.get(f"/api/messages/{m['id']}").get_json()["claimedBy"] is None
    assert client.get("/api/agents/a").status_code == 404
    assert client.delete("/api/agents/a").status_code == 404
    types = [e["type"] for e in client.get("/api/events/recent").get_json()]
    assert types[-2:] == ["message.claim_released", "agent.removed"]
    assert client.get("/api/events/recent").get_json()[-1]["data"] == {"agentId": "a"}

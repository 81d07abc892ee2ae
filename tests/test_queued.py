"""Queued delivery for policy: and pool: addresses."""
import pytest

from relay.server import db
from relay.server.store import config, policies, pools

from .conftest import inbox, register, send


@pytest.fixture
def store(relay_):
    conn = db.connect(relay_.settings.db)
    yield conn
    conn.close()


def add_policy(conn, name, now, **value):
    with db.transaction(conn):
        config.put(conn, "spawn-policy", name, {"name": name, "orchestratorId": "o1",
                                                "provider": "claude", **value}, now)


def start_policy(conn, name, request_id, now):
    with db.transaction(conn):
        policies.set_starting(conn, name, request_id, now)


def types(client, since=0):
    return [e["type"] for e in client.get(f"/api/events/recent?since={since}").get_json()]


def test_policy_messages_queue_then_resolve_in_send_order(client, store, clock):
    add_policy(store, "reviewer", clock(), queue={"maxAgeSeconds": 600})
    start_policy(store, "reviewer", "sp_1", clock())
    first = send(client, "alice", "policy:reviewer", "one")
    second = send(client, "bob", "policy:reviewer", "two", maxAgeSeconds=30)
    assert first["deliveryStatus"] == "queued" and first["resolvedToAgent"] is None
    assert first["expiresAt"] == clock() + 600000
    assert second["expiresAt"] == clock() + 30000
    assert types(client) == ["message.queued", "message.queued"]
    queued = client.get("/api/messages/queued?for=policy:reviewer").get_json()
    assert [m["id"] for m in queued] == [first["id"], second["id"]]

    # A registration for another spawn request does not take the queue.
    register(client, "imposter", meta={"policyName": "reviewer", "spawnRequestId": "sp_0"})
    assert client.get(f"/api/messages/{first['id']}/status").get_json()["deliveryStatus"] == "queued"

    mark = client.get("/api/events/recent").get_json()[-1]["id"]
    register(client, "rev-1", meta={"policyName": "reviewer", "spawnRequestId": "sp_1"})
    assert types(client, mark) == ["policy.state.changed", "message.available", "message.new",
                                   "message.new", "activity.created", "agent.status",
                                   "activity.created"]
    events = client.get(f"/api/events/recent?since={mark}").get_json()
    assert events[0]["data"]["status"] == "running" and events[0]["data"]["agentId"] == "rev-1"
    assert events[1]["data"] == {"policyName": "reviewer", "agentId": "rev-1",
                                 "messageIds": [first["id"], second["id"]], "count": 2}
    assert [e["data"]["id"] for e in events[2:4]] == [first["id"], second["id"]]
    assert [m["body"] for m in inbox(client, "rev-1")] == ["one", "two"]
    assert client.get(f"/api/messages/{first['id']}/status").get_json()["resolvedToAgent"] == "rev-1"
    assert client.get("/api/messages/queued?for=policy:reviewer").get_json() == []

    third = send(client, "alice", "policy:reviewer", "three")
    assert (third["deliveryStatus"], third["resolvedToAgent"]) == ("delivered", "rev-1")
    assert inbox(client, "imposter") == []


def test_queued_policy_messages_expire(client, store, clock):
    add_policy(store, "night", clock())
    start_policy(store, "night", "sp_9", clock())
    short = send(client, "a", "policy:night", "short", maxAgeSeconds=10)
    default = send(client, "a", "policy:night", "default")
    assert default["expiresAt"] == clock() + 86400 * 1000
    clock.advance(10)
    assert client.post("/api/system/reap").get_json()["expiredQueuedMessageIds"] == [short["id"]]
    status = client.get(f"/api/messages/{short['id']}/status").get_json()
    assert status["deliveryStatus"] == "expired"
    event = client.get("/api/events/recent?types=message.expired").get_json()[-1]
    assert event["data"]["id"] == short["id"]
    register(client, "n1", meta={"policyName": "night", "spawnRequestId": "sp_9"})
    assert [m["id"] for m in inbox(client, "n1")] == [default["id"]]
    assert client.get(f"/api/messages/{short['id']}").get_json()["deliveryStatus"] == "expired"


def add_pool(conn, name, now, strategy="round-robin", **selector):
    with db.transaction(conn):
        pools.put(conn, name, selector, strategy, now)


def test_pool_queues_until_a_member_is_online(client, store, clock):
    add_pool(store, "builders", clock(), tags=["builder"])
    register(client, "b-off", tags=["builder"], status="offline")
    m1 = send(client, "boss", "pool:builders", "one")
    m2 = send(client, "boss", "pool:builders", "two")
    assert (m1["deliveryStatus"], m1["expiresAt"]) == ("queued", clock() + 86400 * 1000)
    register(client, "not-a-builder")
    assert client.get(f"/api/messages/{m1['id']}").get_json() == m1
    register(client, "b1", tags=["builder"])
    assert [m["id"] for m in inbox(client, "b1")] == [m1["id"], m2["id"]]
    m3 = send(client, "boss", "pool:builders", "three")
    assert (m3["deliveryStatus"], m3["resolvedToAgent"]) == ("delivered", "b1")
    assert client.get(f"/api/messages/{m3['id']}").get_json() == m3


def test_pool_member_back_from_stale_takes_the_queue(client, store, clock):
    add_pool(store, "ops", clock(), capabilities=["deploy"])
    register(client, "d1", capabilities=["deploy"])
    clock.advance(91)
    client.post("/api/system/reap")
    m = send(client, "boss", "pool:ops")
    assert m["deliveryStatus"] == "queued"
    client.post("/api/agents/d1/heartbeat")
    assert client.get(f"/api/messages/{m['id']}").get_json()["resolvedToAgent"] == "d1"


def test_round_robin_cycles_in_id_order(client, store, clock):
    add_pool(store, "rr", clock(), tags=["w"])
    for agent in ("w3", "w1", "w2"):
        register(client, agent, tags=["w"])
    picks = [send(client, "boss", "pool:rr")["resolvedToAgent"] for _ in range(5)]
    assert picks == ["w1", "w2", "w3", "w1", "w2"]
    assert [m["body"] for m in inbox(client, "w1")] == ["hello", "hello"]


def test_least_recent_prefers_never_picked(client, store, clock):
    add_pool(store, "lr", clock(), "least-recent", agentIds=["x", "y", "z"])
    register(client, "y")
    register(client, "x")
    assert send(client, "boss", "pool:lr")["resolvedToAgent"] == "x"
    clock.advance(1)
    assert send(client, "boss", "pool:lr")["resolvedToAgent"] == "y"
    register(client, "z")
    clock.advance(1)
    assert send(client, "boss", "pool:lr")["resolvedToAgent"] == "z"
    clock.advance(1)
    assert send(client, "boss", "pool:lr")["resolvedToAgent"] == "x"


def test_random_picks_only_online_members(client, store, clock):
    add_pool(store, "rnd", clock(), "random", labels=["l1", "l2"])
    register(client, "p", label="l1")
    register(client, "q", label="l2")
    register(client, "r", label="l2", status="offline")
    register(client, "s", label="other")
    picks = {send(client, "boss", "pool:rnd")["resolvedToAgent"] for _ in range(40)}
    assert picks == {"p", "q"}

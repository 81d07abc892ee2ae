"""Channels, their bindings, health, and inbound events routed through them."""
import pytest

from .conftest import inbox, register, send
from .test_pools import put_pool


def bind(client, channel, type_, id_=None, status=201, **fields):
    target = {"type": type_} if id_ is None else {"type": type_, "id": id_}
    r = client.post(f"/api/channels/{channel}/bindings", json={"target": target, **fields})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def event(client, channel, body="ping", status=201, **fields):
    r = client.post(f"/api/channels/{channel}/events", json={"body": body, **fields})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def targets(result):
    return [m["to"] for m in result["messages"]]


def recent(client, types, since=0):
    return client.get(f"/api/events/recent?types={types}&since={since}&limit=500").get_json()


def test_every_target_type_becomes_its_address(client, relay_):
    register(client, "a1", label="ops", tags=["oncall"], capabilities=["deploy"])
    put_pool(client, "p", agentIds=["a1"])
    got = [bind(client, "slack:ops", t, i, mode="broadcast")["address"] for t, i in (
        ("agent", "a1"), ("label", "ops"), ("tag", "oncall"), ("capability", "deploy"),
        ("broadcast", None), ("pool", "p"), ("policy", "night"), ("orchestrator", "o1"))]
    assert got == ["a1", "label:ops", "tag:oncall", "cap:deploy", "broadcast", "pool:p",
                   "policy:night", "orchestrator:o1"]
    channel = client.get("/api/channels/slack:ops").get_json()
    assert [(h["healthy"], h["onlineAgents"]) for h in channel["health"]] == [
        (True, 1), (True, 1), (True, 1), (True, 1), (True, 1), (True, 1), (False, 0), (False, 0)]
    result = event(client, "slack:ops", "deploy please")
    # Unknown policy and orchestrator: skipped; the others each get one message.
    assert targets(result) == ["a1", "label:ops", "tag:oncall", "cap:deploy", "broadcast",
                               "pool:p"]
    assert {(m["kind"], m["channel"], m["from"]) for m in result["messages"]} == {
        ("channel.event", "slack:ops", "slack:ops")}
    assert [r["messageId"] for r in result["routes"]] == [m["id"] for m in result["messages"]]
    assert result["routes"][5]["resolvedToAgent"] == "a1"


def test_exclusive_takes_the_first_healthy_binding(client, clock):
    register(client, "primary")
    register(client, "fallback")
    low = bind(client, "slack:ops", "agent", "fallback", priority=200)
    high = bind(client, "slack:ops", "agent", "primary", priority=10)
    assert [b["id"] for b in client.get("/api/channels/slack:ops").get_json()["bindings"]] == [
        high["id"], low["id"]]
    assert targets(event(client, "slack:ops")) == ["primary"]

    # primary goes offline: skipped, the fallback takes it.
    client.patch("/api/agents/primary", json={"status": "offline"})
    health = client.get("/api/channels/slack:ops").get_json()["health"]
    assert health == [{"bindingId": high["id"], "healthy": False, "onlineAgents": 0},
                      {"bindingId": low["id"], "healthy": True, "onlineAgents": 1}]
    result = event(client, "slack:ops", "while away")
    assert targets(result) == ["fallback"] and result["routes"][0]["bindingId"] == low["id"]

    # Back online: used again.
    client.post("/api/agents/primary/heartbeat", json={})
    assert targets(event(client, "slack:ops")) == ["primary"]
    assert [m["body"] for m in inbox(client, "fallback")] == ["while away"]


def test_priority_ties_go_by_creation_order(client):
    for agent in ("z", "y", "x"):
        register(client, agent)
    first = bind(client, "c", "agent", "z")
    bind(client, "c", "agent", "y")
    bind(client, "c", "agent", "x", priority=101)
    assert targets(event(client, "c")) == ["z"]
    client.delete(f"/api/channels/c/bindings/{first['id']}")
    assert targets(event(client, "c")) == ["y"]


def test_no_healthy_exclusive_binding_still_delivers_to_the_first(client):
    register(client, "sleepy", status="offline")
    put_pool(client, "nobody", tags=["none"])
    bind(client, "c", "pool", "nobody", priority=1)
    bind(client, "c", "agent", "sleepy", priority=2)
    result = event(client, "c")
    assert targets(result) == ["pool:nobody"]
    assert result["routes"][0]["deliveryStatus"] == "queued"
    assert recent(client, "message.queued")[-1]["data"]["id"] == result["messages"][0]["id"]
    # The pool's first member to come online gets it.
    register(client, "n1", tags=["none"])
    assert [m["channel"] for m in inbox(client, "n1")] == ["c"]


def test_broadcast_mode_reaches_every_binding(client):
    register(client, "a")
    register(client, "b", status="offline")
    register(client, "c")
    bind(client, "gh:acme.api", "agent", "a", mode="broadcast")
    bind(client, "gh:acme.api", "agent", "b", mode="broadcast")
    bind(client, "gh:acme.api", "agent", "c")
    bind(client, "gh:acme.api", "agent", "a", priority=1)
    result = event(client, "gh:acme.api", "PR opened")
    # Both broadcast bindings (b even offline: it waits in its inbox), and the one exclusive.
    assert targets(result) == ["a", "b", "a"]
    assert [m["body"] for m in inbox(client, "b")] == ["PR opened"]


def test_directions(client):
    register(client, "in")
    register(client, "out")
    bind(client, "c", "agent", "out", direction="outbound", priority=1)
    bind(client, "c", "agent", "in", direction="inbound", priority=2)
    assert targets(event(client, "c")) == ["in"]
    client.put("/api/channels/d/bindings",
               json={"bindings": [{"target": {"type": "agent", "id": "out"},
                                   "direction": "outbound"}]})
    r = client.post("/api/channels/d/events", json={"body": "x"})
    assert (r.status_code, r.get_json()) == (
        422, {"error": "no inbound binding of channel d routes this event"})


def test_422_when_nothing_routes_and_404_unknown_channel(client):
    bind(client, "c", "agent", "ghost")          # the agent does not exist (yet)
    r = client.post("/api/channels/c/events", json={"body": "x"})
    assert (r.status_code, r.get_json()) == (
        422, {"error": "no inbound binding of channel c routes this event"})
    assert client.get("/api/messages").get_json() == []
    register(client, "ghost")
    assert targets(event(client, "c")) == ["ghost"]
    r = client.post("/api/channels/nope/events", json={"body": "x"})
    assert (r.status_code, r.get_json()) == (404, {"error": "channel nope not found"})
    assert client.get("/api/channels/nope").status_code == 404


def test_policy_binding_queues_until_the_policy_runs(client, relay_):
    from relay.server import db
    from relay.server.store import config, policies
    conn = db.connect(relay_.settings.db)
    with db.transaction(conn):
        config.put(conn, "spawn-policy", "night", {"name": "night", "orchestratorId": "o1",
                                                   "provider": "claude"}, 0)
        policies.set_starting(conn, "night", "sp_1", 0)
    bind(client, "pager", "policy", "night")
    result = event(client, "pager", "disk full")
    assert result["routes"][0]["deliveryStatus"] == "queued"
    register(client, "night-1", meta={"policyName": "night", "spawnRequestId": "sp_1"})
    assert [m["body"] for m in inbox(client, "night-1")] == ["disk full"]
    assert client.get("/api/channels/pager").get_json()["health"][0]["healthy"] is True
    conn.close()


def test_idempotency_key_routes_once(client):
    register(client, "a")
    bind(client, "c", "agent", "a")
    first = event(client, "c", "once", idempotencyKey="evt-1", subject="s", **{"from": "x"})
    assert (first["messages"][0]["from"], first["messages"][0]["subject"]) == ("x", "s")
    again = event(client, "c", "once", status=200, idempotencyKey="evt-1")
    assert again == first
    assert len(inbox(client, "a")) == 1
    assert len(recent(client, "channel.activity")) == 2       # binding.added, one event.routed
    # The same key on another channel is another event.
    bind(client, "d", "agent", "a")
    assert event(client, "d", "other", idempotencyKey="evt-1")["messages"][0]["channel"] == "d"


def test_bindings_add_replace_delete_and_activity(client, clock):
    b1 = bind(client, "c", "tag", "t1")
    assert b1 == {"id": b1["id"], "channel": "c", "target": {"type": "tag", "id": "t1"},
                  "mode": "exclusive", "direction": "both", "priority": 100, "address": "tag:t1",
                  "createdAt": clock()}
    clock.advance(1)
    r = client.put("/api/channels/c/bindings", json={"bindings": [
        {"target": {"type": "broadcast"}, "mode": "broadcast"},
        {"target": {"type": "capability", "id": "py"}, "direction": "inbound", "priority": 5}]})
    assert r.status_code == 200
    channel = r.get_json()
    assert [b["address"] for b in channel["bindings"]] == ["cap:py", "broadcast"]
    assert b1["id"] not in [b["id"] for b in channel["bindings"]]
    assert (channel["messageCount"], channel["lastActivityAt"]) == (0, clock())
    gone = channel["bindings"][0]
    r = client.delete(f"/api/channels/c/bindings/{gone['id']}")
    assert (r.status_code, r.get_json()) == (200, gone)
    r = client.delete(f"/api/channels/c/bindings/{gone['id']}")
    assert (r.status_code, r.get_json()) == (
        404, {"error": f"binding {gone['id']} of channel c not found"})
    assert client.delete("/api/channels/zz/bindings/1").status_code == 404
    actions = [e["data"]["action"] for e in recent(client, "channel.activity")]
    assert actions == ["binding.added", "bindings.replaced", "binding.removed"]
    assert [c["id"] for c in client.get("/api/channels").get_json()] == ["c"]


def test_summary_counts_messages_both_ways_and_messages_route(client, clock):
    register(client, "bot")
    bind(client, "slack:ops", "agent", "bot")
    inbound = event(client, "slack:ops", "question")["messages"][0]
    clock.advance(3)
    register(client, "slack:ops", kind="channel")        # the connector, as an agent
    reply = send(client, "bot", "slack:ops", "answer", channel="slack:ops", replyTo=inbound["id"])
    send(client, "bot", "slack:ops", "elsewhere")         # no channel: not the channel's
    channel = client.get("/api/channels/slack:ops").get_json()
    assert (channel["messageCount"], channel["lastActivityAt"]) == (2, clock())
    got = client.get("/api/channels/slack:ops/messages").get_json()
    assert [m["id"] for m in got] == [inbound["id"], reply["id"]]
    got = client.get(f"/api/channels/slack:ops/messages?since={inbound['id']}&limit=1").get_json()
    assert [m["body"] for m in got] == ["answer"]
    assert client.get("/api/channels/unbound/messages").get_json() == []


@pytest.mark.parametrize("body,error", [
    ({}, "target is required"),
    ({"target": {"type": "room", "id": "x"}}, "target.type must be one of agent, label, tag, "
     "capability, broadcast, orchestrator, pool, policy"),
    ({"target": {"type": "agent"}}, "target.id is required for a agent target"),
    ({"target": {"type": "agent", "id": "a/b"}},
     "target.id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"target": {"type": "label", "id": "l" * 121}},
     "target.id must be at most 120 characters for a label target"),
    ({"target": {"type": "pool", "id": 3}}, "target.id must be a string"),
    ({"target": {"type": "tag", "id": "t"}, "mode": "all"},
     "mode must be one of exclusive, broadcast"),
    ({"target": {"type": "tag", "id": "t"}, "direction": "up"},
     "direction must be one of inbound, outbound, both"),
    ({"target": {"type": "tag", "id": "t"}, "priority": -1},
     "priority must be an integer between 0 and 1000000"),
    ({"target": {"type": "tag", "id": "t"}, "priority": "1"},
     "priority must be an integer between 0 and 1000000"),
])
def test_bad_bindings_name_the_field(client, body, error):
    r = client.post("/api/channels/c/bindings", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


@pytest.mark.parametrize("body,error", [
    ({"bindings": {}}, "bindings must be a list"),
    ({"bindings": [{"target": {"type": "tag"}}]}, "bindings[0].target.id is required for a "
     "tag target"),
])
def test_bad_put_bindings_name_the_field(client, body, error):
    r = client.put("/api/channels/c/bindings", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


@pytest.mark.parametrize("body,error", [
    ({}, "body is required"),
    ({"body": "  "}, "body must not be empty"),
    ({"body": "x", "from": "a b"}, "from must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"body": "x", "payload": []}, "payload must be a JSON object"),
    ({"body": "x", "subject": "s" * 241}, "subject must be at most 240 characters"),
    ({"body": "x", "idempotencyKey": "k" * 241}, "idempotencyKey must be at most 240 characters"),
])
def test_bad_events_name_the_field(client, body, error):
    bind(client, "c", "broadcast")
    r = client.post("/api/channels/c/events", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_bad_channel_id_and_query(client):
    r = client.post("/api/channels/" + "c" * 241 + "/bindings", json={"target": {"type": "broadcast"}})
    assert (r.status_code, r.get_json()) == (
        400, {"error": "channel must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"})
    r = client.get("/api/channels/c/messages?limit=0")
    assert (r.status_code, r.get_json()) == (400, {"error": "limit must be an integer between 1 and 500"})


def test_concurrent_retries_of_one_event_route_it_once(live):
    import threading
    assert live.request("POST", "/api/agents", {"id": "a"})[0] == 201
    assert live.request("POST", "/api/channels/c/bindings",
                        {"target": {"type": "agent", "id": "a"}})[0] == 201
    results, start = [], threading.Barrier(10)

    def go():
        start.wait()
        results.append(live.request("POST", "/api/channels/c/events",
                                    {"body": "once", "idempotencyKey": "k"}))
    threads = [threading.Thread(target=go) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(status for status, _ in results) == [200] * 9 + [201]
    assert len({json_ids(body) for _, body in results}) == 1
    assert [m["body"] for m in live.request("GET", "/api/messages?for=a")[1]] == ["once"]


def json_ids(result):
    return tuple(m["id"] for m in result["messages"])

"""Pools, their members, the three strategies, and membership events."""
import pytest

from .conftest import inbox, register, send


def put_pool(client, name, strategy="round-robin", status=None, **selector):
    r = client.put(f"/api/pools/{name}", json={"selector": selector, "strategy": strategy})
    assert r.status_code == (status or r.status_code), r.get_json()
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def events(client, types="pool.", since=0):
    return client.get(f"/api/events/recent?types={types}&since={since}&limit=500").get_json()


def mark(client):
    recent = client.get("/api/events/recent?limit=500").get_json()
    return recent[-1]["id"] if recent else 0


def test_put_get_list_delete(client, clock):
    register(client, "b2", tags=["builder", "py"])
    register(client, "b1", tags=["builder"], status="offline")
    register(client, "x", tags=["other"])
    created = put_pool(client, "builders", status=201, tags=["builder"])
    assert [a["id"] for a in created["members"]] == ["b1", "b2"]
    assert created["online"] == 1
    assert created["members"][1]["tags"] == ["builder", "py"]
    assert created["selector"] == {"tags": ["builder"], "capabilities": [], "labels": [],
                                   "agentIds": []}
    assert (created["strategy"], created["createdAt"]) == ("round-robin", clock())
    clock.advance(5)
    replaced = put_pool(client, "builders", "random", status=200, tags=["builder", "py"])
    assert [a["id"] for a in replaced["members"]] == ["b2"]
    assert (replaced["strategy"], replaced["createdAt"], replaced["updatedAt"]) == (
        "random", created["createdAt"], clock())
    put_pool(client, "all")
    assert [p["name"] for p in client.get("/api/pools").get_json()] == ["all", "builders"]
    assert client.get("/api/pools/all").get_json()["online"] == 2     # b2 and x
    assert client.get("/api/pools/builders").get_json() == replaced
    assert client.delete("/api/pools/builders").get_json() == {"ok": True}
    r = client.get("/api/pools/builders")
    assert (r.status_code, r.get_json()) == (404, {"error": "pool builders not found"})
    assert client.delete("/api/pools/builders").status_code == 404
    r = client.post("/api/messages", json={"from": "a", "to": "pool:builders", "body": "x"})
    assert (r.status_code, r.get_json()) == (404, {"error": "pool builders not found"})


def test_selector_matches_every_non_empty_part(client):
    register(client, "a", label="rev", tags=["t1", "t2"], capabilities=["py"])
    register(client, "b", label="rev", tags=["t1"], capabilities=["py"])
    register(client, "c", label="dev", tags=["t1", "t2"], capabilities=["py"])
    register(client, "d", label="rev", tags=["t1", "t2"], capabilities=["go"])
    pool = put_pool(client, "p", tags=["t1", "t2"], capabilities=["py"], labels=["rev", "ops"])
    assert [a["id"] for a in pool["members"]] == ["a"]
    pool = put_pool(client, "q", labels=["rev"], agentIds=["b", "c", "d"])
    assert [a["id"] for a in pool["members"]] == ["b", "d"]


@pytest.mark.parametrize("body,error", [
    ({"strategy": "fifo"}, "strategy must be one of round-robin, least-recent, random"),
    ({"strategy": 3}, "strategy must be one of round-robin, least-recent, random"),
    ({"selector": []}, "selector must be a JSON object"),
    ({"selector": {"tags": "builder"}}, "selector.tags must be a list"),
    ({"selector": {"tags": ["a"] * 101}}, "selector.tags must have at most 100 items"),
    ({"selector": {"labels": [""]}}, "selector.labels[0] must not be empty"),
    ({"selector": {"capabilities": ["c" * 121]}},
     "selector.capabilities[0] must be at most 120 characters"),
    ({"selector": {"agentIds": ["no/slash"]}},
     "selector.agentIds[0] must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
])
def test_bad_pool_bodies_name_the_field(client, body, error):
    r = client.put("/api/pools/p", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_bad_pool_name(client):
    r = client.put("/api/pools/" + "n" * 241, json={})
    assert (r.status_code, r.get_json()) == (
        400, {"error": "name must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"})


def test_round_robin_cycles_in_id_order_over_many_sends(client):
    for agent in ("w3", "w1", "w4", "w2"):
        register(client, agent, tags=["w"])
    put_pool(client, "rr", tags=["w"])
    picks = [send(client, "boss", "pool:rr", f"m{i}")["resolvedToAgent"] for i in range(12)]
    assert picks == ["w1", "w2", "w3", "w4"] * 3
    assert [m["body"] for m in inbox(client, "w2")] == ["m1", "m5", "m9"]
    # A member going offline leaves the cycle; the others keep their order.
    client.patch("/api/agents/w3", json={"status": "offline"})
    picks = [send(client, "boss", "pool:rr")["resolvedToAgent"] for _ in range(6)]
    assert picks == ["w1", "w2", "w4"] * 2


def test_least_recent_never_picks_one_twice_while_another_waits(client, clock):
    # The clock stands still: picks in the same millisecond must still rotate.
    for agent in ("c", "a", "b"):
        register(client, agent, capabilities=["review"])
    put_pool(client, "lr", "least-recent", capabilities=["review"])
    picks = [send(client, "boss", "pool:lr")["resolvedToAgent"] for _ in range(9)]
    assert picks[:3] == ["a", "b", "c"]
    for i in range(len(picks) - 2):
        assert sorted(picks[i:i + 3]) == ["a", "b", "c"], picks
    # A newcomer has never been picked: it goes first, then the rotation goes on.
    register(client, "d", capabilities=["review"])
    picks = [send(client, "boss", "pool:lr")["resolvedToAgent"] for _ in range(8)]
    assert picks[0] == "d"
    for i in range(len(picks) - 3):
        assert sorted(picks[i:i + 4]) == ["a", "b", "c", "d"], picks


def test_random_uses_every_online_member(client):
    for i in range(5):
        register(client, f"r{i}", label="rnd")
    register(client, "r9", label="rnd", status="offline")
    put_pool(client, "rnd", "random", labels=["rnd"])
    picks = [send(client, "boss", "pool:rnd")["resolvedToAgent"] for _ in range(200)]
    assert set(picks) == {f"r{i}" for i in range(5)}
    # Uniform enough: with 200 picks over 5 each is far from 0 and from 200.
    assert all(15 <= picks.count(f"r{i}") <= 80 for i in range(5)), picks


def test_queued_pool_messages_go_out_in_send_order_when_a_member_registers(client, clock):
    put_pool(client, "ops", capabilities=["deploy"])
    sent = [send(client, "boss", "pool:ops", f"job {i}") for i in range(4)]
    assert {m["deliveryStatus"] for m in sent} == {"queued"}
    assert [e["data"]["id"] for e in events(client, "message.queued")] == [m["id"] for m in sent]
    since = mark(client)
    register(client, "d1", capabilities=["deploy"])
    assert [m["body"] for m in inbox(client, "d1")] == [f"job {i}" for i in range(4)]
    new = events(client, "message.new", since)
    assert [(e["data"]["id"], e["data"]["resolvedToAgent"]) for e in new] == [
        (m["id"], "d1") for m in sent]
    assert client.get("/api/messages/queued?for=pool:ops").get_json() == []
    changed = events(client, "pool.", since)
    assert [e["data"] for e in changed] == [{"pool": "ops", "agentId": "d1", "member": True,
                                             "agentOnline": True, "memberIds": ["d1"],
                                             "online": 1}]


def test_queued_pool_messages_end_to_end_on_a_live_server(live):
    assert live.request("PUT", "/api/pools/night", {"selector": {"tags": ["night"]}})[0] == 201
    ids = []
    for i in range(5):
        status, message = live.request("POST", "/api/messages",
                                       {"from": "boss", "to": "pool:night", "body": f"n{i}"})
        assert (status, message["deliveryStatus"]) == (201, "queued")
        ids.append(message["id"])
    assert live.request("POST", "/api/agents", {"id": "owl", "tags": ["night"]})[0] == 201
    status, got = live.request("GET", "/api/messages?for=owl")
    assert [m["id"] for m in got] == ids
    assert {m["resolvedToAgent"] for m in got} == {"owl"}


def test_a_member_going_offline_stops_receiving(client, clock):
    register(client, "m1", tags=["t"])
    register(client, "m2", tags=["t"])
    put_pool(client, "p", tags=["t"])
    assert {send(client, "boss", "pool:p")["resolvedToAgent"] for _ in range(4)} == {"m1", "m2"}
    clock.advance(200)
    client.post("/api/agents/m2/heartbeat", json={})
    since = mark(client)
    clock.advance(150)           # m1: 350 s without a call (offline); m2: 150 s (stale)
    reaped = client.post("/api/system/reap").get_json()
    assert (reaped["staleAgentIds"], reaped["offlineAgentIds"]) == (["m1", "m2"], ["m1"])
    changed = [(e["data"]["agentId"], e["data"]["agentOnline"], e["data"]["online"])
               for e in events(client, "pool.", since)]
    assert changed == [("m1", False, 1), ("m2", False, 0)]
    queued = send(client, "boss", "pool:p", "waits")
    assert queued["deliveryStatus"] == "queued"
    # m2 beats again: it takes the queue and every later message; m1 gets nothing.
    client.post("/api/agents/m2/heartbeat", json={})
    assert client.get(f"/api/messages/{queued['id']}").get_json()["resolvedToAgent"] == "m2"
    assert {send(client, "boss", "pool:p")["resolvedToAgent"] for _ in range(4)} == {"m2"}
    assert client.get("/api/pools/p").get_json()["online"] == 1


def test_membership_changes_emit_pool_binding_changed(client):
    put_pool(client, "py", capabilities=["py"])
    put_pool(client, "all")
    register(client, "a", capabilities=["py"])
    register(client, "a", capabilities=["py"])        # nothing changes: no event
    client.post("/api/agents/a/heartbeat", json={})
    client.patch("/api/agents/a", json={"capabilities": ["go"]})
    client.patch("/api/agents/a", json={"status": "busy"})     # still online: no event
    client.delete("/api/agents/a")
    got = [(e["subject"], e["data"]["member"], e["data"]["agentOnline"])
           for e in events(client)]
    assert got == [("all", True, True), ("py", True, True), ("py", False, False),
                   ("all", False, False)]
    assert client.get("/api/pools/py").get_json()["members"] == []


def test_sending_back_from_stale_resolves_the_pool_queue(client, clock):
    register(client, "s1", tags=["s"])
    put_pool(client, "s", tags=["s"])
    clock.advance(100)
    client.post("/api/system/reap")
    waiting = send(client, "boss", "pool:s")
    assert waiting["deliveryStatus"] == "queued"
    send(client, "s1", "broadcast", "I am back")
    assert client.get(f"/api/messages/{waiting['id']}").get_json()["resolvedToAgent"] == "s1"


def test_any_call_that_brings_a_member_back_resolves_its_pool_queue(client, clock):
    register(client, "k1", tags=["k"])
    put_pool(client, "k", tags=["k"])
    work = send(client, "boss", "k1", "claim me", claimable=True)
    clock.advance(100)
    client.post("/api/system/reap")                       # k1 is stale
    waiting = send(client, "boss", "pool:k")
    assert waiting["deliveryStatus"] == "queued"
    since = mark(client)
    r = client.post(f"/api/messages/{work['id']}/claim", json={"agentId": "k1"})
    assert r.status_code == 200
    assert client.get(f"/api/messages/{waiting['id']}").get_json()["resolvedToAgent"] == "k1"
    assert [e["type"] for e in events(client, "", since)] == [
        "message.claimed", "message.new", "pool.binding.changed", "agent.status"]


def test_least_recent_keeps_a_rejoining_members_place(client):
    for agent in ("a", "b", "c"):
        register(client, agent, tags=["lr"])
    put_pool(client, "lr", "least-recent", tags=["lr"])
    assert [send(client, "boss", "pool:lr")["resolvedToAgent"] for _ in range(3)] == ["a", "b", "c"]
    client.patch("/api/agents/c", json={"tags": []})          # leaves the pool
    client.patch("/api/agents/c", json={"tags": ["lr"]})      # and comes back: not "never picked"
    put_pool(client, "lr", "least-recent", tags=["lr"])       # putting it again keeps the turn too
    assert [send(client, "boss", "pool:lr")["resolvedToAgent"] for _ in range(4)] == [
        "a", "b", "c", "a"]


def test_concurrent_round_robin_sends_share_evenly(live):
    import threading
    for i in range(4):
        assert live.request("POST", "/api/agents", {"id": f"c{i}", "tags": ["c"]})[0] == 201
    assert live.request("PUT", "/api/pools/c", {"selector": {"tags": ["c"]}})[0] == 201
    picks, start = [], threading.Barrier(8)

    def go():
        start.wait()
        for _ in range(5):
            status, message = live.request("POST", "/api/messages",
                                           {"from": "boss", "to": "pool:c", "body": "x"})
            assert status == 201
            picks.append((message["id"], message["resolvedToAgent"]))
    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Picks are made in commit order, which is id order: a strict rotation.
    assert [agent for _, agent in sorted(picks)] == ["c0", "c1", "c2", "c3"] * 10

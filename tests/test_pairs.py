"""Pairs: invite, accept/decline/end, exclusivity, pair messages, expiry."""
import threading

import pytest

from .conftest import inbox, register


def invite(client, sender, to, status=201, **fields):
    r = client.post("/api/pairs", json={"from": sender, "to": to, **fields})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def act(client, pair_id, action, agent_id, status=200):
    r = client.post(f"/api/pairs/{pair_id}/actions", json={"action": action, "agentId": agent_id})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def say(client, pair_id, sender, body="hi", status=201):
    r = client.post(f"/api/pairs/{pair_id}/messages", json={"from": sender, "body": body})
    assert r.status_code == status, r.get_json()
    return r.get_json()


@pytest.fixture
def agents(client):
    for agent in ("alice", "bob", "carol", "dave"):
        register(client, agent)


def updates(client):
    return [(e["data"]["id"], e["data"]["status"])
            for e in client.get("/api/events/recent?types=pair.updated").get_json()]


def test_invite_accept_talk_end(client, clock, agents):
    pair = invite(client, "alice", "bob", topic="fix the flaky test")
    assert pair == {"id": pair["id"], "from": "alice", "to": "bob", "topic": "fix the flaky test",
                    "status": "pending", "inviteMessageId": pair["inviteMessageId"],
                    "endedBy": None, "createdAt": clock(), "updatedAt": clock(),
                    "expiresAt": clock() + 600_000}
    [invitation] = inbox(client, "bob")
    assert (invitation["id"], invitation["kind"], invitation["from"], invitation["body"]) == (
        pair["inviteMessageId"], "pair", "alice", "fix the flaky test")
    assert invitation["payload"] == {"pairId": pair["id"], "action": "invite"}
    # Nothing may be said before the invite is accepted.
    r = client.post(f"/api/pairs/{pair['id']}/messages", json={"from": "alice", "body": "x"})
    assert (r.status_code, r.get_json()) == (409, {"error": f"pair {pair['id']} is pending, not active"})

    clock.advance(5)
    active = act(client, pair["id"], "accept", "bob")
    assert (active["status"], active["updatedAt"], active["endedBy"]) == ("active", clock(), None)
    assert inbox(client, "alice")[-1]["payload"] == {"pairId": pair["id"], "action": "accept"}
    message = say(client, pair["id"], "bob", "on it")
    assert (message["to"], message["kind"], message["payload"]) == (
        "alice", "pair", {"pairId": pair["id"], "action": "message"})
    say(client, pair["id"], "alice", "thanks")
    assert [m["body"] for m in inbox(client, "bob")][-1] == "thanks"
    r = client.post(f"/api/pairs/{pair['id']}/messages", json={"from": "carol", "body": "x"})
    assert (r.status_code, r.get_json()) == (
        403, {"error": f"agent carol is not a member of pair {pair['id']}"})

    ended = act(client, pair["id"], "end", "alice")
    assert (ended["status"], ended["endedBy"]) == ("ended", "alice")
    assert inbox(client, "bob")[-1]["payload"]["action"] == "end"
    say(client, pair["id"], "bob", status=409)
    assert updates(client) == [(pair["id"], "pending"), (pair["id"], "active"),
                               (pair["id"], "ended")]
    assert client.get(f"/api/pairs/{pair['id']}").get_json() == ended
    # Ended: both are free again.
    assert invite(client, "bob", "alice")["status"] == "pending"


def test_only_the_invitee_accepts_or_declines(client, agents):
    pair = invite(client, "alice", "bob")
    for action in ("accept", "decline"):
        assert act(client, pair["id"], action, "alice", 403) == {
            "error": f"only the invitee (bob) can {action} pair {pair['id']}"}
    assert act(client, pair["id"], "end", "carol", 403) == {
        "error": f"agent carol is not a member of pair {pair['id']}"}
    declined = act(client, pair["id"], "decline", "bob")
    assert (declined["status"], declined["endedBy"]) == ("declined", "bob")
    assert act(client, pair["id"], "accept", "bob", 409) == {
        "error": f"pair {pair['id']} is declined: cannot accept it"}
    assert act(client, pair["id"], "end", "alice", 409)["error"].startswith(
        f"pair {pair['id']} is declined")


def test_the_inviter_may_withdraw_a_pending_invite(client, agents):
    pair = invite(client, "alice", "bob")
    assert act(client, pair["id"], "end", "alice")["status"] == "ended"
    act(client, pair["id"], "accept", "bob", 409)


def test_exclusivity(client, agents):
    pair = invite(client, "alice", "bob")
    for sender, to, busy in (("alice", "carol", "alice"), ("carol", "alice", "alice"),
                             ("bob", "carol", "bob"), ("dave", "bob", "bob")):
        assert invite(client, sender, to, 409) == {
            "error": f"agent {busy} already has a pending pair ({pair['id']})"}
    act(client, pair["id"], "accept", "bob")
    assert invite(client, "carol", "bob", 409) == {
        "error": f"agent bob already has an active pair ({pair['id']})"}
    assert invite(client, "carol", "dave")["status"] == "pending"
    assert {p["status"] for p in client.get("/api/pairs").get_json()} == {"active", "pending"}


def test_twenty_concurrent_invites_one_wins(live):
    for agent in ["hub"] + [f"w{i}" for i in range(20)]:
        assert live.request("POST", "/api/agents", {"id": agent})[0] == 201
    results, start = [], threading.Barrier(20)

    def go(i):
        start.wait()
        # Half invite the hub, half are invited by it: every invite involves the hub.
        body = {"from": f"w{i}", "to": "hub"} if i % 2 else {"from": "hub", "to": f"w{i}"}
        results.append(live.request("POST", "/api/pairs", body))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 19
    [winner] = [body for status, body in results if status == 201]
    status, listed = live.request("GET", "/api/pairs")
    assert [p["id"] for p in listed] == [winner["id"]]
    invited = winner["to"]
    status, got = live.request("GET", f"/api/messages?for={invited}")
    assert [m["payload"]["pairId"] for m in got] == [winner["id"]]


def test_invites_expire_in_the_reap_cycle(client, clock, agents):
    old = invite(client, "alice", "bob")
    clock.advance(599)
    assert client.post("/api/system/reap").get_json()["expiredPairIds"] == []
    clock.advance(1)
    # Past its 10 minutes: it no longer blocks, and cannot be accepted, even before the reaper.
    assert act(client, old["id"], "accept", "bob", 409) == {
        "error": f"pair {old['id']} is expired: cannot accept it"}
    fresh = invite(client, "bob", "alice")
    assert client.post("/api/system/reap").get_json()["expiredPairIds"] == [old["id"]]
    assert client.get(f"/api/pairs/{old['id']}").get_json()["status"] == "expired"
    assert updates(client)[-1] == (old["id"], "expired")
    assert client.post("/api/system/reap").get_json()["expiredPairIds"] == []
    assert [p["id"] for p in client.get("/api/pairs?status=expired").get_json()] == [old["id"]]
    assert [p["id"] for p in client.get("/api/pairs?agentId=alice&status=pending").get_json()] == [
        fresh["id"]]
    assert client.get("/api/pairs?agentId=carol").get_json() == []


def test_unknown_agents_and_pairs(client, agents):
    assert invite(client, "alice", "zed", 404) == {"error": "agent zed not found"}
    assert invite(client, "zed", "alice", 404) == {"error": "agent zed not found"}
    assert invite(client, "alice", "alice", 422) == {
        "error": "to must be another agent than from: an agent cannot pair with itself"}
    assert client.get("/api/pairs/99").status_code == 404
    assert act(client, 99, "end", "alice", 404) == {"error": "pair 99 not found"}
    say(client, 99, "alice", status=404)


@pytest.mark.parametrize("path,body,error", [
    ("/api/pairs", {"to": "b"}, "from is required"),
    ("/api/pairs", {"from": "a"}, "to is required"),
    ("/api/pairs", {"from": "a", "to": "b/c"}, "to must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ("/api/pairs", {"from": "a", "to": "b", "topic": "t" * 241}, "topic must be at most 240 characters"),
    ("/api/pairs/1/actions", {"agentId": "a"}, "action is required"),
    ("/api/pairs/1/actions", {"action": "merge", "agentId": "a"},
     "action must be one of accept, decline, end"),
    ("/api/pairs/1/actions", {"action": "end"}, "agentId is required"),
    ("/api/pairs/1/messages", {"from": "a"}, "body is required"),
    ("/api/pairs/1/messages", {"from": "a", "body": "x", "payload": 3}, "payload must be a JSON object"),
])
def test_bad_input_names_the_field(client, path, body, error):
    r = client.post(path, json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_bad_list_filters(client):
    r = client.get("/api/pairs?status=open")
    assert (r.status_code, r.get_json()) == (
        400, {"error": "status must be one of pending, active, declined, ended, expired"})
    assert client.get("/api/pairs?limit=0").status_code == 400

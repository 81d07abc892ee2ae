"""Every address form, the inbox poll, idempotency, threads, reads, deletes."""
import json

import pytest

from relay.server import db

from .conftest import inbox, register, send


@pytest.fixture
def team(client):
    register(client, "alice", label="lead", tags=["py", "ops"], capabilities=["review"])
    register(client, "bob", tags=["py"], capabilities=["deploy"])
    register(client, "carol", label="lead", capabilities=["review", "deploy"])
    register(client, "dave")
    return ["alice", "bob", "carol", "dave"]


def readers(client, team, message_id):
    return [a for a in team if message_id in [m["id"] for m in inbox(client, a)]]


@pytest.mark.parametrize("to,expected", [
    ("alice", ["alice"]),
    ("broadcast", ["alice", "bob", "carol"]),          # dave sent it: not his own
    ("label:lead", ["alice", "carol"]),
    ("tag:py", ["alice", "bob"]),
    ("tag:ops", ["alice"]),
    ("cap:deploy", ["bob", "carol"]),
    ("cap:review", ["alice", "carol"]),
    ("label:nobody", []),
])
def test_each_address_reaches_exactly_its_agents(client, team, to, expected):
    m = send(client, "dave", to)
    assert m["to"] == to and m["deliveryStatus"] == "delivered"
    assert readers(client, team, m["id"]) == expected


def test_own_messages_are_not_in_the_inbox(client, team):
    send(client, "alice", "broadcast")
    send(client, "alice", "tag:py")
    assert inbox(client, "alice") == []


def test_orchestrator_address_resolves_to_its_agent(client, team, relay_, clock):
    conn = db.connect(relay_.settings.db)
    conn.execute("INSERT INTO orchestrators (id, agent_id, last_heartbeat, created_at) "
                 "VALUES ('host1', 'bob', 0, 0)")
    m = send(client, "alice", "orchestrator:host1")
    assert m["resolvedToAgent"] == "bob"
    assert readers(client, team, m["id"]) == ["bob"]


@pytest.mark.parametrize("to,error", [
    ("ghost", "agent ghost not found"),
    ("orchestrator:none", "orchestrator none not found"),
    ("pool:none", "pool none not found"),
    ("policy:none", "spawn policy none not found"),
])
def test_unknown_targets_are_404(client, team, to, error):
    r = client.post("/api/messages", json={"from": "alice", "to": to, "body": "x"})
    assert (r.status_code, r.get_json()) == (404, {"error": error})
    assert client.get("/api/messages/cursor").get_json() == {"latestId": 0}


def test_offline_agent_still_receives(client):
    register(client, "sleeper", status="offline")
    m = send(client, "x", "sleeper")
    assert [x["id"] for x in inbox(client, "sleeper")] == [m["id"]]


def test_group_messages_are_matched_when_read(client, team):
    m = send(client, "alice", "tag:rust")
    register(client, "erin")
    assert inbox(client, "erin") == []
    register(client, "erin", tags=["rust"])
    assert [x["id"] for x in inbox(client, "erin")] == [m["id"]]


def test_poll_order_since_limit_and_filters(client, team):
    ids = [send(client, "bob", "alice", body=str(i))["id"] for i in range(5)]
    c = send(client, "bob", "alice", kind="control", channel="slack:ops")["id"]
    assert [m["id"] for m in inbox(client, "alice")] == ids + [c]
    assert [m["id"] for m in inbox(client, "alice", since=ids[2])] == ids[3:] + [c]
    assert [m["id"] for m in inbox(client, "alice", limit=2)] == ids[:2]
    assert [m["id"] for m in inbox(client, "alice", kind="control")] == [c]
    assert [m["id"] for m in inbox(client, "alice", channel="slack:ops")] == [c]
    assert inbox(client, "alice", kind="chat", channel="slack:ops") == []


def test_poll_unknown_agent_is_404(client):
    r = client.get("/api/messages?for=nobody")
    assert (r.status_code, r.get_json()) == (404, {"error": "agent nobody not found"})


def test_dashboard_listing_newest_first(client, team):
    a = send(client, "alice", "bob")["id"]
    b = send(client, "bob", "alice", kind="control")["id"]
    c = send(client, "bob", "broadcast", channel="ch")["id"]
    ids = lambda q: [m["id"] for m in client.get("/api/messages" + q).get_json()]
    assert ids("") == [c, b, a]
    assert ids("?from=bob") == [c, b]
    assert ids("?to=alice") == [b]
    assert ids("?kind=control") == [b]
    assert ids("?channel=ch") == [c]
    assert ids(f"?before={c}") == [b, a]
    assert ids("?limit=1") == [c]


def test_send_answers_every_field(client, team, clock):
    r = client.post("/api/messages", json={
        "from": "alice", "to": "bob", "body": "review this", "kind": "task", "subject": "PR 7",
        "payload": {"pr": 7}, "meta": {"m": True}, "channel": "github:acme.api",
        "claimable": True, "claimTtlSeconds": 60, "idempotencyKey": "k1"})
    assert r.status_code == 201
    assert r.get_json() == {
        "id": 1, "from": "alice", "to": "bob", "kind": "task", "subject": "PR 7",
        "body": "review this", "payload": {"pr": 7}, "meta": {"m": True},
        "channel": "github:acme.api", "replyTo": None, "threadId": 1, "claimable": True,
        "claimTtlSeconds": 60, "claimedBy": None, "claimedAt": None, "claimExpiresAt": None,
        "idempotencyKey": "k1", "readBy": [], "deliveryStatus": "delivered",
        "resolvedToAgent": None, "expiresAt": None, "createdAt": clock()}
    # The answer is the stored row (send does not read it back).
    assert client.get("/api/messages/1").get_json() == r.get_json()
    event = client.get("/api/events/recent?types=message.").get_json()[-1]
    assert (event["type"], event["source"], event["subject"]) == ("message.new", "alice", "1")
    # The event log and the answer carry the same message (encoded once).
    assert event["data"] == r.get_json()


def test_idempotency_per_sender(client, team):
    first = client.post("/api/messages", json={"from": "alice", "to": "bob", "body": "once",
                                               "idempotencyKey": "job-42"})
    events = len(client.get("/api/events/recent").get_json())
    again = client.post("/api/messages", json={"from": "alice", "to": "bob", "body": "twice?",
                                               "idempotencyKey": "job-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert len(client.get("/api/events/recent").get_json()) == events
    assert len(inbox(client, "bob")) == 1
    other = client.post("/api/messages", json={"from": "carol", "to": "bob", "body": "mine",
                                               "idempotencyKey": "job-42"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]


def test_threads(client, team):
    root = send(client, "alice", "bob", "question")
    reply = send(client, "bob", "alice", "answer", replyTo=root["id"])
    again = send(client, "alice", "bob", "follow-up", replyTo=reply["id"])
    send(client, "alice", "bob", "unrelated")
    assert (root["threadId"], reply["threadId"], again["threadId"]) == (root["id"],) * 3
    assert reply["replyTo"] == root["id"] and again["replyTo"] == reply["id"]
    for m in (root, reply, again):
        assert client.get(f"/api/messages/{m['id']}").get_json() == m
    for m in (root, reply, again):
        thread = client.get(f"/api/messages/{m['id']}/thread").get_json()
        assert [x["body"] for x in thread] == ["question", "answer", "follow-up"]
    r = client.post("/api/messages", json={"from": "a", "to": "bob", "body": "x", "replyTo": 999})
    assert (r.status_code, r.get_json()) == (
        404, {"error": "replyTo must be the id of an existing message (999 is not)"})
    assert client.get("/api/messages/999/thread").status_code == 404


def test_get_status_cursor(client, team):
    assert client.get("/api/messages/cursor").get_json() == {"latestId": 0}
    m = send(client, "alice", "bob", claimable=True)
    assert client.get("/api/messages/cursor").get_json() == {"latestId": m["id"]}
    assert client.get(f"/api/messages/{m['id']}").get_json() == m
    assert client.get(f"/api/messages/{m['id']}/status").get_json() == {
        "id": m["id"], "deliveryStatus": "delivered", "resolvedToAgent": None, "expiresAt": None,
        "claimedBy": None, "claimExpiresAt": None, "readBy": [], "receipts": []}
    r = client.get("/api/messages/12345")
    assert (r.status_code, r.get_json()) == (404, {"error": "message 12345 not found"})
    assert client.get("/api/messages/12345/status").status_code == 404
    assert client.get("/api/messages/abc").status_code == 404


def test_read_single_and_batch(client, team):
    ids = [send(client, "alice", "bob")["id"] for _ in range(3)]
    r = client.post(f"/api/messages/{ids[0]}/read", json={"agentId": "bob"})
    assert r.status_code == 200 and r.get_json()["readBy"] == ["bob"]
    assert client.post(f"/api/messages/{ids[0]}/read", json={"agentId": "bob"}).get_json()["readBy"] == ["bob"]
    assert [m["id"] for m in inbox(client, "bob", unread=1)] == ids[1:]
    r = client.post("/api/messages/read", json={"agentId": "bob", "ids": ids})
    assert r.get_json() == {"ok": True, "read": ids[1:]}
    assert inbox(client, "bob", unread="true") == []
    assert len(inbox(client, "bob")) == 3
    reads = [e for e in client.get("/api/events/recent?types=message.read").get_json()]
    assert [e["subject"] for e in reads] == [str(i) for i in ids]


def test_poll_answer_is_compact_json_on_either_engine(client, team):
    """The poll's JSON is written by the database (store/messages.py): on both
    engines, no space after a colon or comma, keys in the documented order."""
    # (A payload is stored as the relay encodes it: non-ASCII escaped, as the poll shows it.)
    escaped = 'quote " backslash \\ newline \n control \x01'
    tricky = escaped + ' é 中 😀'
    first = send(client, "alice", "broadcast", subject=tricky,
                 payload={"n": 1, "f": 2.5, "list": [True, None, {"x": []}], "s": escaped},
                 meta={"m": {"deep": [1, "two"]}})["id"]
    send(client, "alice", "bob", ackRequired=True, maxDeliveries=5)
    client.post("/api/messages/read", json={"agentId": "bob", "ids": [first]})
    client.post("/api/messages/read", json={"agentId": "carol", "ids": [first]})
    raw = client.get("/api/messages?for=bob").get_data(as_text=True)
    polled = json.loads(raw)
    assert [m.get("ackRequired") for m in polled] == [None, True]
    assert polled[0]["readBy"] == ["bob", "carol"] and polled[0]["subject"] == tricky
    assert raw == json.dumps(polled, separators=(",", ":"), ensure_ascii=False) + "\n"


@pytest.mark.parametrize("body,status,error", [
    ({"agentId": "bob"}, 400, "ids is required"),
    ({"agentId": "bob", "ids": []}, 400, "ids must be a list of 1-500 positive integer message ids"),
    ({"agentId": "bob", "ids": ["1"]}, 400, "ids must be a list of 1-500 positive integer message ids"),
    ({"agentId": "bob", "ids": [True]}, 400, "ids must be a list of 1-500 positive integer message ids"),
    ({"ids": [1]}, 400, "agentId is required"),
    ({"agentId": "bob", "ids": [1, 77]}, 404, "message 77 not found"),
    ({"agentId": "ghost", "ids": [1]}, 404, "agent ghost not found"),
])
def test_batch_read_bad_input(client, team, body, status, error):
    send(client, "alice", "bob")
    r = client.post("/api/messages/read", json=body)
    assert (r.status_code, r.get_json()) == (status, {"error": error})
    assert client.get("/api/messages/1").get_json()["readBy"] == []


def test_delete(client, team):
    m = send(client, "alice", "bob")
    r = client.delete(f"/api/messages/{m['id']}")
    assert (r.status_code, r.get_json()) == (200, {"ok": True})
    assert client.get(f"/api/messages/{m['id']}").status_code == 404
    assert client.delete(f"/api/messages/{m['id']}").status_code == 404
    event = client.get("/api/events/recent").get_json()[-1]
    assert (event["type"], event["data"]) == ("message.deleted", {"messageId": m["id"]})


VALID = {"from": "alice", "to": "bob", "body": "hi"}


@pytest.mark.parametrize("change,error", [
    ({"from": None}, "from is required"),
    ({"to": None}, "to is required"),
    ({"body": None}, "body is required"),
    ({"body": 5}, "body must be a string"),
    ({"body": "x" * 65537}, "body must be at most 65536 characters"),
    ({"from": "a b"}, "from must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"to": "a/b"}, "to must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"to": "tag:"}, "to tag: needs a name of 1-120 characters"),
    ({"to": "pool:a b"}, "to (pool id) must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"kind": "email"}, "kind must be one of chat, channel.event, task, pair, control, system"),
    ({"subject": "s" * 241}, "subject must be at most 240 characters"),
    ({"payload": [1]}, "payload must be a JSON object"),
    ({"meta": "m"}, "meta must be a JSON object"),
    ({"channel": "c" * 121}, "channel must be at most 120 characters"),
    ({"replyTo": "1"}, "replyTo must be an integer between 1 and 9223372036854775807"),
    ({"replyTo": 0}, "replyTo must be an integer between 1 and 9223372036854775807"),
    ({"claimable": "yes"}, "claimable must be true or false"),
    ({"claimTtlSeconds": 0}, "claimTtlSeconds must be an integer between 1 and 86400"),
    ({"claimTtlSeconds": 86401}, "claimTtlSeconds must be an integer between 1 and 86400"),
    ({"maxAgeSeconds": -1}, "maxAgeSeconds must be an integer between 0 and 2592000"),
    ({"maxAgeSeconds": 2592001}, "maxAgeSeconds must be an integer between 0 and 2592000"),
    ({"maxAgeSeconds": 1.5}, "maxAgeSeconds must be an integer between 0 and 2592000"),
    ({"idempotencyKey": "k" * 241}, "idempotencyKey must be at most 240 characters"),
    ({"idempotencyKey": 12}, "idempotencyKey must be a string"),
])
def test_send_rejects_bad_fields(client, team, change, error):
    body = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    r = client.post("/api/messages", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})
    assert client.get("/api/messages/cursor").get_json() == {"latestId": 0}


@pytest.mark.parametrize("query,error", [
    ("for=bob&unread=maybe", "unread must be 1, 0, true or false"),
    ("for=bob&kind=x", "kind must be one of chat, channel.event, task, pair, control, system"),
    ("for=bob&wait=61", "wait must be an integer between 0 and 60"),
    ("for=bob&limit=0", "limit must be an integer between 1 and 500"),
])
def test_poll_rejects_bad_query(client, team, query, error):
    r = client.get("/api/messages?" + query)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_queued_route_requires_for(client):
    r = client.get("/api/messages/queued")
    assert (r.status_code, r.get_json()) == (400, {"error": "for is required"})

"""One representation of a message. The inbox poll's JSON is written by
SQLite (store/messages.py); GET /api/messages/:id, the event's data and the
send's answer come from the row through Python. They agree field by field,
for messages with every field set, against a real server (SSE included)."""
import json
import time

from relay import db
from relay.store import pools

from .sse import SSE

# Everything JSON escapes differently from one encoder to the next.
TRICKY = 'quote " backslash \\ newline \n tab \t control \x01 é 中 😀 \u2028 </script>'


def post(live, path, body):
    status, answer = live.request("POST", path, body)
    assert status in (200, 201), answer
    return answer


def get(live, path):
    status, answer = live.request("GET", path)
    assert status == 200, answer
    return answer


def same(a: dict, b: dict) -> None:
    """The same fields in the same order, each with the same JSON value (true is not 1)."""
    assert list(a) == list(b)
    for field in a:
        assert json.dumps(a[field]) == json.dumps(b[field]), (field, a[field], b[field])


def test_one_representation_of_a_message(live):
    conn = db.connect(live.relay.settings.db)
    with db.transaction(conn):
        pools.put(conn, "builders", {"tags": ["builder"]}, "round-robin", int(time.time() * 1000))
    conn.close()
    for agent in ("alice", "bob", "carol"):
        post(live, "/api/agents", {"id": agent})
    root = post(live, "/api/messages", {
        "from": "alice", "to": "bob", "kind": "task", "subject": TRICKY, "body": TRICKY,
        "payload": {"n": 1, "f": 2.5, "big": 2**53, "s": TRICKY, "list": [True, None, {"x": []}]},
        "meta": {"m": {"deep": [1, "two"]}}, "channel": "github:acme.api",
        "claimable": True, "claimTtlSeconds": 60, "idempotencyKey": "k1"})
    reply = post(live, "/api/messages", {"from": "carol", "to": "bob", "body": "on it",
                                         "replyTo": root["id"]})
    queued = post(live, "/api/messages", {"from": "alice", "to": "pool:builders",
                                          "body": "build", "maxAgeSeconds": 600})
    everyone = post(live, "/api/messages", {"from": "alice", "to": "broadcast", "body": "hi",
                                            "payload": {}, "meta": {}})
    asking = post(live, "/api/messages", {"from": "alice", "to": "bob", "body": TRICKY,
                                          "ackRequired": True, "maxDeliveries": 5,
                                          "escalateTo": "label:" + TRICKY[:100]})
    sent = [root, reply, queued, everyone, asking]
    assert reply["threadId"] == root["id"] and queued["deliveryStatus"] == "queued"
    for answer in sent:
        same(answer, get(live, f"/api/messages/{answer['id']}"))

    post(live, f"/api/messages/{root['id']}/claim", {"agentId": "bob"})
    post(live, "/api/messages/read", {"agentId": "bob", "ids": [root["id"], reply["id"]]})
    post(live, "/api/agents", {"id": "bob", "tags": ["builder"]})     # the pool's queue goes to bob

    poll = get(live, "/api/messages?for=bob")
    assert [m["id"] for m in poll] == [m["id"] for m in sent]
    root_now, _, queued_now, _, asking_now = poll
    assert (asking_now["ackRequired"], asking_now["maxDeliveries"]) == (True, 5)
    assert "ackRequired" not in root_now
    assert root_now["claimedBy"] == "bob" and root_now["claimExpiresAt"]
    assert root_now["readBy"] == ["bob"]
    assert (queued_now["deliveryStatus"], queued_now["resolvedToAgent"]) == ("delivered", "bob")
    assert queued_now["expiresAt"] == queued["expiresAt"]
    unread = get(live, "/api/messages?for=bob&unread=1")
    assert [m["id"] for m in unread] == [queued["id"], everyone["id"], asking["id"]]

    last = get(live, "/api/events/recent?types=message.&limit=500")[-1]["id"]
    stream = SSE(live.port, "/api/events?since=0&types=message.")
    events = stream.until(lambda name, envelope: envelope["id"] == last)
    stream.close()
    first, latest = {}, {}
    for _, envelope in events:
        first.setdefault(envelope["data"]["id"], envelope["data"])
        latest[envelope["data"]["id"]] = envelope["data"]
    for answer, polled in zip(sent, poll):
        same(answer, first[answer["id"]])          # the send's answer is its event
        same(polled, get(live, f"/api/messages/{polled['id']}"))
        same(polled, latest[polled["id"]])         # and the poll shows the latest state

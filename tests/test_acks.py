"""Acknowledgements and receipts: the states a receipt moves through (polls,
reads, acks), who may ack, the deadline on the injected clock (redelivery
past the cursor, overdue, escalation in the thread), progress, nack,
claimable and broadcast messages, and what an ordinary poll writes (nothing)."""
import json

import pytest

from relay.server import db

from .conftest import inbox, register, send


@pytest.fixture
def team(client):
    for agent in ("alice", "bob", "carol", "lead"):
        register(client, agent)


def receipts(client, message_id):
    r = client.get(f"/api/messages/{message_id}/receipts")
    assert r.status_code == 200, r.get_json()
    return {x["agentId"]: x for x in r.get_json()}


def events(client, prefix):
    return [e for e in client.get(f"/api/events/recent?types={prefix}&limit=500").get_json()]


def reap(client):
    r = client.post("/api/system/reap")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def post(client, path, body, status=200):
    r = client.post(path, json=body)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_a_receipt_moves_through_poll_read_and_ack(client, team, clock):
    m = send(client, "alice", "bob", "review PR 7", ackRequired=True)
    assert (m["ackRequired"], m["maxDeliveries"], m["ackBy"]) == (True, 3, clock() + 1800_000)
    sent_at = clock()
    assert receipts(client, m["id"]) == {"bob": {
        "messageId": m["id"], "agentId": "bob", "state": "queued", "owed": True,
        "deliveredAt": None, "seenAt": None, "readAt": None, "ackedAt": None, "ackedBy": None,
        "note": None, "deliveryCount": 0, "dueAt": sent_at + 1800_000, "redelivered": False}}

    clock.advance(1)
    assert [x["id"] for x in inbox(client, "bob")] == [m["id"]]
    bob = receipts(client, m["id"])["bob"]
    assert (bob["state"], bob["deliveryCount"], bob["deliveredAt"], bob["seenAt"]) == (
        "delivered", 1, clock(), clock())
    delivered_at = clock()

    clock.advance(1)
    inbox(client, "bob")                         # polled again: still the first delivery
    assert receipts(client, m["id"])["bob"]["deliveredAt"] == delivered_at

    post(client, f"/api/messages/{m['id']}/read", {"agentId": "bob"})
    bob = receipts(client, m["id"])["bob"]
    assert (bob["state"], bob["readAt"]) == ("read", clock())

    clock.advance(1)
    acked = post(client, f"/api/messages/{m['id']}/ack", {"agentId": "bob", "note": "merged"})
    assert (acked["state"], acked["ackedAt"], acked["ackedBy"], acked["note"], acked["dueAt"]) == (
        "acked", clock(), "bob", "merged", None)
    acked_at = clock()
    clock.advance(1)
    again = post(client, f"/api/messages/{m['id']}/ack", {"agentId": "bob"})
    assert again["ackedAt"] == acked_at                  # the first ackedAt stays
    found = events(client, "message.acked")
    assert len(found) == 1                               # and only the first ack is an event
    assert found[0]["data"]["messageId"] == m["id"] and found[0]["data"]["agentId"] == "bob"
    assert found[0]["data"]["receipt"]["state"] == "acked"
    status = client.get(f"/api/messages/{m['id']}/status").get_json()
    assert [r["state"] for r in status["receipts"]] == ["acked"]
    # The dashboard's list carries the receipts of a message that asks for an ack.
    listed = client.get("/api/messages").get_json()
    assert listed[0]["receipts"][0]["state"] == "acked"


def test_read_without_a_poll_is_read_and_counts_a_delivery(client, team, clock):
    m = send(client, "alice", "bob", "x", ackRequired=True)
    post(client, "/api/messages/read", {"agentId": "bob", "ids": [m["id"]]})
    bob = receipts(client, m["id"])["bob"]
    assert (bob["state"], bob["deliveryCount"], bob["readAt"]) == ("read", 1, clock())


def mark(relay_):
    """What rows are written from here (written()): SQLite counts the committer's
    changes; PostgreSQL has no such count, so every row's (ctid, xmin) is noted (a
    row inserted or updated since has a new pair)."""
    if relay_.committer.conn.dialect.__name__.endswith("sqlite"):
        return relay_.committer.conn.total_changes
    conn = db.connect(relay_.settings.db)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE'")]
        return {(t, *r) for t in tables
                for r in conn.execute(f"SELECT ctid::text, xmin::text FROM {t}").fetchall()}
    finally:
        conn.close()


def written(relay_, before) -> int:
    now = mark(relay_)
    return now - before if isinstance(before, int) else len(now - before)


def test_an_ordinary_poll_writes_nothing(client, team, relay_):
    plain = send(client, "alice", "bob", "no ack")
    inbox(client, "bob")                        # the first poll writes presence
    before = mark(relay_)
    assert [m["id"] for m in inbox(client, "bob")] == [plain["id"]]
    assert written(relay_, before) == 0
    assert receipts(client, plain["id"]) == {}
    asking = send(client, "alice", "bob", "ack me", ackRequired=True)
    before = mark(relay_)
    inbox(client, "bob")                        # carries the ack-required one: one write
    assert written(relay_, before) == 1
    inbox(client, "bob")                        # already delivered: nothing again
    assert written(relay_, before) == 1
    assert "redelivered" not in inbox(client, "bob")[-1]
    assert receipts(client, asking["id"])["bob"]["state"] == "delivered"


def test_who_may_ack(client, team):
    m = send(client, "alice", "bob", "x", ackRequired=True)
    plain = send(client, "alice", "bob", "y")
    for verb, body in (("ack", {}), ("nack", {}), ("progress", {})):
        for agent in ("carol", "alice"):        # not a recipient; the sender is not one either
            r = client.post(f"/api/messages/{m['id']}/{verb}", json={"agentId": agent, **body})
            assert r.status_code == 403, r.get_json()
            assert r.get_json() == {"error": f"agent {agent} is not a recipient of message {m['id']}"}
        r = client.post(f"/api/messages/{plain['id']}/{verb}", json={"agentId": "bob"})
        assert r.status_code == 400
        assert r.get_json() == {"error": f"message {plain['id']} does not ask for an acknowledgement"}
        r = client.post(f"/api/messages/999/{verb}", json={"agentId": "bob"})
        assert (r.status_code, r.get_json()) == (404, {"error": "message 999 not found"})
        r = client.post(f"/api/messages/{m['id']}/{verb}", json={"agentId": "nobody"})
        assert (r.status_code, r.get_json()) == (404, {"error": "agent nobody not found"})
        r = client.post(f"/api/messages/{m['id']}/{verb}", json={"agentId": "bob", "epoch": 99})
        assert (r.status_code, r.get_json()) == (409, {"error": "stale agent session"})
    post(client, f"/api/messages/{m['id']}/ack", {"agentId": "bob"})
    for verb in ("nack", "progress"):
        r = client.post(f"/api/messages/{m['id']}/{verb}", json={"agentId": "bob"})
        assert (r.status_code, r.get_json()) == (
            409, {"error": f"message {m['id']} is already acked for bob"})


def test_send_checks_the_ack_options(client, team, clock):
    def refused(status, error, **fields):
        r = client.post("/api/messages", json={"from": "alice", "to": "bob", "body": "x", **fields})
        assert (r.status_code, r.get_json()) == (status, {"error": error})
    refused(422, "ackWithinSeconds needs ackRequired: true", ackWithinSeconds=60)
    refused(422, "escalateTo needs ackRequired: true", escalateTo="lead")
    refused(422, "ackBy and ackWithinSeconds: give one deadline, not both",
            ackRequired=True, ackBy=clock() + 1000, ackWithinSeconds=5)
    refused(422, "ackBy must be later than now", ackRequired=True, ackBy=clock())
    refused(404, "escalateTo pool:none not found", ackRequired=True, escalateTo="pool:none")
    refused(404, "escalateTo ghost not found", ackRequired=True, escalateTo="ghost")
    refused(400, "maxDeliveries must be an integer between 1 and 100", ackRequired=True,
            maxDeliveries=0)
    refused(400, "ackWithinSeconds must be an integer between 1 and 2592000", ackRequired=True,
            ackWithinSeconds=0)
    refused(400, "ackRequired must be true or false", ackRequired="yes")
    m = send(client, "alice", "bob", "x", ackRequired=True, ackBy=clock() + 5000)
    assert receipts(client, m["id"])["bob"]["dueAt"] == clock() + 5000


def test_deadline_redelivers_then_overdue_and_escalates_in_the_thread(client, team, clock):
    root = send(client, "lead", "alice", "plan the migration")
    m = send(client, "alice", "bob", "review the migration", subject="migration",
             replyTo=root["id"], ackRequired=True, ackWithinSeconds=60, maxDeliveries=3,
             escalateTo="lead")
    later = send(client, "carol", "bob", "unrelated")
    seen = inbox(client, "bob")
    assert [x["id"] for x in seen] == [m["id"], later["id"]]
    cursor = later["id"]

    clock.advance(59)
    assert reap(client)["redeliveredReceipts"] == []
    assert inbox(client, "bob", since=cursor) == []
    clock.advance(1)
    report = reap(client)
    assert report["redeliveredReceipts"] == [{"messageId": m["id"], "agentId": "bob"}]
    redelivered = events(client, "message.redelivered")
    assert [(e["data"]["messageId"], e["data"]["agentId"], e["data"]["deliveryCount"])
            for e in redelivered] == [(m["id"], "bob", 2)]
    assert redelivered[0]["data"]["message"]["id"] == m["id"]
    bob = receipts(client, m["id"])["bob"]
    assert (bob["deliveryCount"], bob["redelivered"], bob["dueAt"]) == (2, True, clock() + 60_000)

    # Shown again past the cursor, marked, once.
    again = inbox(client, "bob", since=cursor)
    assert [(x["id"], x.get("redelivered")) for x in again] == [(m["id"], True)]
    assert {k: v for k, v in again[0].items() if k != "redelivered"} == \
        client.get(f"/api/messages/{m['id']}").get_json()
    assert receipts(client, m["id"])["bob"]["seenAt"] == clock()
    assert inbox(client, "bob", since=cursor) == []
    # Before the cursor too, in order, with the new message after it.
    newer = send(client, "carol", "bob", "newer")
    clock.advance(60)
    reap(client)
    assert [(x["id"], x.get("redelivered")) for x in inbox(client, "bob", since=cursor)] == [
        (m["id"], True), (newer["id"], None)]
    assert receipts(client, m["id"])["bob"]["deliveryCount"] == 3

    clock.advance(60)
    report = reap(client)
    assert report["redeliveredReceipts"] == []
    assert report["overdueReceipts"] == [{"messageId": m["id"], "agentId": "bob"}]
    bob = receipts(client, m["id"])["bob"]
    assert (bob["state"], bob["deliveryCount"], bob["dueAt"]) == ("overdue", 3, None)
    overdue = events(client, "message.ack_overdue")
    assert len(overdue) == 1
    escalation_id = overdue[0]["data"]["escalationMessageId"]
    assert report["escalationMessageIds"] == [escalation_id]
    escalation = client.get(f"/api/messages/{escalation_id}").get_json()
    assert (escalation["kind"], escalation["from"], escalation["to"], escalation["replyTo"],
            escalation["threadId"], escalation["subject"]) == (
        "system", "system", "lead", m["id"], root["id"], "ack overdue: migration")
    assert escalation["payload"] == {"messageId": m["id"], "agentId": "bob", "deliveryCount": 3}
    thread = client.get(f"/api/messages/{m['id']}/thread").get_json()
    assert [x["id"] for x in thread] == [root["id"], m["id"], escalation_id]
    assert [x["id"] for x in inbox(client, "lead")][-1] == escalation_id
    # Nothing more happens to it; it is listed as overdue and still owed.
    clock.advance(600)
    assert reap(client)["overdueReceipts"] == []
    listed = client.get("/api/messages/overdue").get_json()
    assert [(x["messageId"], x["agentId"], x["message"]["id"]) for x in listed] == [
        (m["id"], "bob", m["id"])]
    assert client.get("/api/messages/overdue?from=carol").get_json() == []
    assert len(client.get("/api/messages/overdue?agentId=bob&to=bob").get_json()) == 1
    assert [x["id"] for x in inbox(client, "bob", ackPending=1)] == [m["id"]]
    assert [x["id"] for x in client.get("/api/messages?from=alice&awaitingAck=1").get_json()] == [
        m["id"]]
    # A late ack still counts.
    post(client, f"/api/messages/{m['id']}/ack", {"agentId": "bob"})
    assert inbox(client, "bob", ackPending=1) == []
    assert client.get("/api/messages?from=alice&awaitingAck=1").get_json() == []
    assert client.get("/api/messages/overdue").get_json() == []


def test_one_delivery_allowed_is_overdue_at_the_first_deadline(client, team, clock):
    m = send(client, "alice", "bob", "x", ackRequired=True, ackWithinSeconds=10, maxDeliveries=1)
    clock.advance(10)
    assert reap(client)["overdueReceipts"] == [{"messageId": m["id"], "agentId": "bob"}]
    # Never polled: the deadline counted the first delivery.
    assert receipts(client, m["id"])["bob"]["deliveryCount"] == 1
    assert events(client, "message.ack_overdue")[0]["data"]["escalationMessageId"] is None


def test_progress_moves_the_deadline(client, team, clock):
    m = send(client, "alice", "bob", "x", ackRequired=True, ackWithinSeconds=60)
    inbox(client, "bob")
    clock.advance(50)
    moved = post(client, f"/api/messages/{m['id']}/progress", {"agentId": "bob"})
    assert moved["dueAt"] == clock() + 60_000
    clock.advance(20)                        # past the first deadline
    assert reap(client)["redeliveredReceipts"] == []
    clock.advance(40)
    assert reap(client)["redeliveredReceipts"] == [{"messageId": m["id"], "agentId": "bob"}]


def test_nack_redelivers_after_its_delay(client, team, clock):
    m = send(client, "alice", "bob", "x", ackRequired=True, ackWithinSeconds=600)
    cursor = inbox(client, "bob")[-1]["id"]
    nacked = post(client, f"/api/messages/{m['id']}/nack",
                  {"agentId": "bob", "reason": "busy", "retryInSeconds": 30})
    assert (nacked["dueAt"], nacked["note"]) == (clock() + 30_000, "busy")
    clock.advance(29)
    assert reap(client)["redeliveredReceipts"] == []
    clock.advance(1)
    assert reap(client)["redeliveredReceipts"] == [{"messageId": m["id"], "agentId": "bob"}]
    assert [x["id"] for x in inbox(client, "bob", since=cursor)] == [m["id"]]
    bob = receipts(client, m["id"])["bob"]
    assert (bob["deliveryCount"], bob["dueAt"]) == (2, clock() + 600_000)


def test_a_claimable_message_acked_by_its_claimer_is_done_for_all(client, team, clock):
    for agent in ("bob", "carol"):
        register(client, agent, capabilities=["review"])
    m = send(client, "alice", "cap:review", "review", claimable=True, ackRequired=True)
    assert set(receipts(client, m["id"])) == {"bob", "carol"}
    post(client, f"/api/messages/{m['id']}/claim", {"agentId": "bob"})
    post(client, f"/api/messages/{m['id']}/ack", {"agentId": "bob"})
    done = receipts(client, m["id"])
    assert {a: (r["state"], r["ackedBy"], r["dueAt"]) for a, r in done.items()} == {
        "bob": ("acked", "bob", None), "carol": ("acked", "bob", None)}
    assert sorted(e["data"]["agentId"] for e in events(client, "message.acked")) == ["bob", "carol"]
    clock.advance(3600)
    assert reap(client)["redeliveredReceipts"] == []
    # A recipient that is not the claimer acks only for itself.
    other = send(client, "alice", "cap:review", "again", claimable=True, ackRequired=True)
    post(client, f"/api/messages/{other['id']}/ack", {"agentId": "carol"})
    assert {a: r["state"] for a, r in receipts(client, other["id"]).items()} == {
        "bob": "queued", "carol": "acked"}


def test_a_broadcast_is_owed_by_every_agent_matched_at_send_time(client, team, clock):
    m = send(client, "alice", "broadcast", "all hands", ackRequired=True, ackWithinSeconds=60)
    assert {a: r["owed"] for a, r in receipts(client, m["id"]).items()} == {
        "bob": True, "carol": True, "lead": True}
    register(client, "newcomer")
    assert [x["id"] for x in inbox(client, "newcomer")] == [m["id"]]
    late = receipts(client, m["id"])["newcomer"]
    assert (late["owed"], late["state"], late["dueAt"]) == (False, "delivered", None)
    assert inbox(client, "newcomer", ackPending=1) == []
    r = client.post(f"/api/messages/{m['id']}/progress", json={"agentId": "newcomer"})
    assert (r.status_code, r.get_json()) == (
        409, {"error": f"agent newcomer owes no ack for message {m['id']}"})
    clock.advance(60)
    redelivered = reap(client)["redeliveredReceipts"]
    assert sorted(r["agentId"] for r in redelivered) == ["bob", "carol", "lead"]
    # A group message to a tag: owed by who carries it when sent.
    register(client, "bob", tags=["ops"])
    tagged = send(client, "alice", "tag:ops", "ops only", ackRequired=True)
    assert set(receipts(client, tagged["id"])) == {"bob"}
    # A later reader may ack: its receipt records it.
    acked = post(client, f"/api/messages/{m['id']}/ack", {"agentId": "newcomer"})
    assert (acked["state"], acked["owed"]) == ("acked", False)


def test_a_queued_message_is_owed_once_it_resolves(client, team, clock):
    client.put("/api/pools/builders", json={"selector": {"tags": ["builder"]}})
    m = send(client, "alice", "pool:builders", "build", ackRequired=True)
    assert m["deliveryStatus"] == "queued" and receipts(client, m["id"]) == {}
    register(client, "bob", tags=["builder"])
    bob = receipts(client, m["id"])["bob"]
    assert (bob["state"], bob["owed"], bob["dueAt"]) == ("queued", True, m["ackBy"])


# --- streams: a message carried by an agent's event stream is delivered ---------------------

def live_receipt(live, message_id, agent_id):
    status, found = live.request("GET", f"/api/messages/{message_id}/receipts")
    assert status == 200
    return {r["agentId"]: r for r in found}[agent_id]


def test_a_stream_carrying_the_message_moves_the_receipt(live):
    from simple_websocket import Client

    from .sse import SSE
    for agent in ("alice", "bob", "carol", "dave"):
        assert live.request("POST", "/api/agents", {"id": agent})[0] == 201
    _, early = live.request("POST", "/api/messages", {"from": "alice", "to": "carol",
                                                      "body": "sent before", "ackRequired": True})
    stream = SSE(live.port, "/api/events?agentId=bob&types=message.")
    replayed = SSE(live.port, "/api/events?agentId=carol&since=0&types=message.")
    ws = Client.connect(f"ws://127.0.0.1:{live.port}/api/ws")
    ws.send('{"type": "subscribe", "agentId": "dave", "types": ["message."]}')
    assert '"subscribed"' in ws.receive(5)
    try:
        _, live_one = live.request("POST", "/api/messages", {
            "from": "alice", "to": "bob", "body": "live", "ackRequired": True})
        _, ws_one = live.request("POST", "/api/messages", {
            "from": "alice", "to": "dave", "body": "over ws", "ackRequired": True})
        # A stream hands an event carrying such a message over only once its receipt
        # says delivered: whoever reads the event and asks sees it delivered.
        assert stream.events(1)[0][1]["data"]["id"] == live_one["id"]
        assert live_receipt(live, live_one["id"], "bob")["state"] == "delivered"
        assert replayed.events(1)[0][1]["data"]["id"] == early["id"]
        assert live_receipt(live, early["id"], "carol")["state"] == "delivered"
        frame = json.loads(ws.receive(5))
        assert (frame["event"]["type"], frame["event"]["data"]["id"]) == ("message.new", ws_one["id"])
        assert live_receipt(live, ws_one["id"], "dave")["state"] == "delivered"
        for message, agent in ((live_one, "bob"), (early, "carol"), (ws_one, "dave")):
            receipt = live_receipt(live, message["id"], agent)
            assert (receipt["state"], receipt["deliveryCount"]) == ("delivered", 1), agent
        for i in range(5):                  # each of several, read then asked about at once
            _, message = live.request("POST", "/api/messages", {
                "from": "alice", "to": "bob", "body": f"next {i}", "ackRequired": True})
            assert stream.events(1)[0][1]["data"]["id"] == message["id"]
            assert live_receipt(live, message["id"], "bob")["state"] == "delivered"
        # Nothing is written for what a stream carries to others (the sender's own).
        assert live_receipt(live, live_one["id"], "bob")["deliveredAt"] is not None
        status, found = live.request("GET", f"/api/messages/{live_one['id']}/receipts")
        assert [r["agentId"] for r in found] == ["bob"]
    finally:
        stream.close()
        replayed.close()
        ws.close()


def test_redelivered_messages_count_in_the_limit_and_filters(client, team, clock):
    m = send(client, "alice", "bob", "x", kind="task", ackRequired=True, ackWithinSeconds=10)
    cursor = inbox(client, "bob")[-1]["id"]
    fresh = [send(client, "carol", "bob", f"n{i}")["id"] for i in range(3)]
    clock.advance(10)
    reap(client)
    assert [x["id"] for x in inbox(client, "bob", since=cursor, limit=2, kind="chat")] == fresh[:2]
    assert [x["id"] for x in inbox(client, "bob", since=cursor, limit=1)] == [m["id"]]
    # Shown once: the next poll from the same cursor has the fresh ones only.
    assert [x["id"] for x in inbox(client, "bob", since=cursor, limit=2)] == fresh[:2]
    clock.advance(10)
    reap(client)
    assert [x["id"] for x in inbox(client, "bob", since=cursor, limit=2)] == [m["id"], fresh[0]]
    clock.advance(10)
    reap(client)
    assert [x["id"] for x in inbox(client, "bob", since=fresh[-1], limit=5)] == []   # overdue now


def test_a_resend_with_the_same_idempotency_key_answers_the_first(client, team, clock):
    first = send(client, "alice", "bob", "x", ackRequired=True, ackBy=clock() + 1000,
                 idempotencyKey="k")
    clock.advance(2)
    r = client.post("/api/messages", json={"from": "alice", "to": "bob", "body": "x",
                                           "ackRequired": True, "ackBy": first["ackBy"],
                                           "idempotencyKey": "k"})
    assert (r.status_code, r.get_json()) == (200, first)


def test_a_redelivery_wakes_a_held_long_poll(db_path, clock):
    import threading

    from relay.server.settings import Settings

    from .conftest import Live
    live = Live(Settings(db=db_path, port=0, reap_interval=3600), clock)
    try:
        for agent in ("alice", "bob"):
            live.request("POST", "/api/agents", {"id": agent})
        _, m = live.request("POST", "/api/messages", {"from": "alice", "to": "bob", "body": "x",
                                                      "ackRequired": True, "ackWithinSeconds": 10})
        assert live.request("GET", "/api/messages?for=bob")[1][-1]["id"] == m["id"]
        answers = []
        poller = threading.Thread(target=lambda: answers.append(
            live.request("GET", f"/api/messages?for=bob&since={m['id']}&wait=30")))
        poller.start()
        # Once the poll holds (it has subscribed), the deadline passes and the reaper runs.
        while live.relay.broadcaster.subscriber_count() == 0 and poller.is_alive():
            threading.Event().wait(0.01)
        assert answers == []
        clock.advance(10)
        live.request("POST", "/api/system/reap")
        poller.join(30)
        status, found = answers[0]
        assert (status, [(x["id"], x["redelivered"]) for x in found]) == (200, [(m["id"], True)])
    finally:
        live.stop()


def test_retention_keeps_a_message_whose_ack_is_still_due(client, team, clock, relay_):
    from relay.server import db
    from relay.server.store import retention
    waiting = send(client, "alice", "bob", "x", ackRequired=True, ackWithinSeconds=600)
    plain = send(client, "alice", "bob", "y")
    acked = send(client, "alice", "bob", "z", ackRequired=True)
    post(client, f"/api/messages/{acked['id']}/ack", {"agentId": "bob"})
    conn = db.connect(relay_.settings.db)
    with db.transaction(conn):
        assert retention.messages(conn, clock() + 1, clock(), 100) == 2
    assert client.get(f"/api/messages/{plain['id']}").status_code == 404
    assert client.get(f"/api/messages/{acked['id']}").status_code == 404
    assert receipts(client, waiting["id"])["bob"]["state"] == "queued"
    assert search_ids(client, "y z") == []
    for _ in range(3):                              # redelivered twice, then overdue
        clock.advance(600)
        reap(client)
    assert receipts(client, waiting["id"])["bob"]["state"] == "overdue"     # settled: may go
    with db.transaction(conn):
        assert retention.messages(conn, clock(), clock(), 100) == 1


def search_ids(client, q):
    return [m["id"] for m in client.get("/api/messages/search", query_string={"q": q}).get_json()]

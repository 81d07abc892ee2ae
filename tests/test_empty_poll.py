"""The empty poll answered from memory (relay/server/empty_polls.py): every
way a message can become visible to an agent, after the agent's empty poll
was remembered, must make its next poll read the database and find it.

Each test first polls twice: the second is answered from memory on SQLite
(the hit counter proves it), never on PostgreSQL, where other processes may
commit (the fast path is off there). Then the change, then the same poll.
"""
import json

import pytest

from relay.server import db

from .conftest import inbox, register, send


@pytest.fixture
def known_empty(client, relay_, backend):
    """known_empty(agent, **params): two empty polls; the second from memory on SQLite."""
    def check(agent_id, **params):
        params.setdefault("since", latest(client))
        assert inbox(client, agent_id, **params) == []
        hits = relay_.empty_polls.hits
        assert inbox(client, agent_id, **params) == []
        assert relay_.empty_polls.hits == (hits + 1 if backend == "sqlite" else 0)
        return params
    return check


def latest(client):
    return client.get("/api/messages/cursor").get_json()["latestId"]


def bodies(client, agent_id, **params):
    return [m["body"] for m in inbox(client, agent_id, **params)]


@pytest.mark.parametrize("to", ["me", "tag:py", "label:lead", "cap:review", "broadcast"])
def test_a_message_to_any_address_that_reaches_it(client, known_empty, to):
    register(client, "me", tags=["py"], label="lead", capabilities=["review"])
    register(client, "other", tags=["go"])
    params = known_empty("me")
    send(client, "other", "tag:go", "not mine")
    assert bodies(client, "me", **params) == []
    send(client, "other", to, "mine")
    assert bodies(client, "me", **params) == ["mine"]


def test_a_system_broadcast(client, known_empty):
    register(client, "me")
    params = known_empty("me")
    assert client.post("/api/system/broadcast", json={"body": "all hands"}).status_code == 201
    assert bodies(client, "me", **params) == ["all hands"]


def test_a_pool_message_resolved_at_once_and_one_queued_then_resolved(client, known_empty, clock):
    register(client, "me", capabilities=["deploy"])
    assert client.put("/api/pools/ops", json={"selector": {"capabilities": ["deploy"]}}
                      ).status_code == 201
    params = known_empty("me")
    send(client, "boss", "pool:ops", "now")
    assert bodies(client, "me", **params) == ["now"]
    # Stale: the next one queues; the poll itself brings me back (presence),
    # which resolves the queue to me before the poll reads.
    params = known_empty("me", since=latest(client))
    clock.advance(100)
    client.post("/api/system/reap")
    assert send(client, "boss", "pool:ops", "later")["deliveryStatus"] == "queued"
    assert bodies(client, "me", **params) == ["later"]


def test_a_policy_message_resolved_when_its_agent_registers(client, known_empty):
    assert client.post("/api/orchestrators", json={"id": "h1", "providers": ["claude"],
                                                   "baseDir": "/srv/app"}).status_code in (200, 201)
    assert client.put("/api/spawn-policy/reviewer", json={
        "orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app/repo", "mode": "manual"}
    ).status_code == 201
    command = client.post("/api/spawn-policy/reviewer/start").get_json()["command"]
    register(client, "rev-1")
    params = known_empty("rev-1")
    assert send(client, "boss", "policy:reviewer", "review this")["deliveryStatus"] == "queued"
    assert bodies(client, "rev-1", **params) == []
    register(client, "rev-1", meta={"policyName": "reviewer", "orchestratorId": "h1",
                                    "spawnRequestId": command["params"]["spawnRequestId"]})
    assert bodies(client, "rev-1", **params) == ["review this"]


def test_an_orchestrator_address(client, known_empty, relay_):
    register(client, "me")
    db.connect(relay_.settings.db).execute(
        "INSERT INTO orchestrators (id, agent_id, last_heartbeat, created_at) VALUES ('h2', 'me', 0, 0)")
    params = known_empty("me")
    send(client, "boss", "orchestrator:h2", "for the host")
    assert bodies(client, "me", **params) == ["for the host"]


def test_a_claim_by_another_that_runs_out(client, known_empty, clock):
    register(client, "me", tags=["py"])
    register(client, "rival", tags=["py"])
    since = latest(client)
    m = send(client, "boss", "tag:py", "contested", claimable=True)
    assert client.post(f"/api/messages/{m['id']}/claim",
                       json={"agentId": "rival", "ttlSeconds": 60}).status_code == 200
    params = known_empty("me", since=since)
    clock.advance(59)
    assert bodies(client, "me", **params) == []
    clock.advance(1)            # no reap, no event: the claim has simply run out
    assert bodies(client, "me", **params) == ["contested"]


@pytest.mark.parametrize("how", ["release", "reap", "remove the claimer"])
def test_a_claim_by_another_given_back(client, known_empty, clock, how):
    register(client, "me", tags=["py"])
    register(client, "rival", tags=["py"])
    since = latest(client)
    m = send(client, "boss", "tag:py", "contested", claimable=True)
    client.post(f"/api/messages/{m['id']}/claim", json={"agentId": "rival", "ttlSeconds": 60})
    params = known_empty("me", since=since)
    if how == "release":
        assert client.post(f"/api/messages/{m['id']}/release",
                           json={"agentId": "rival"}).status_code == 200
    elif how == "reap":
        clock.advance(61)
        assert client.post("/api/system/reap").get_json()["releasedMessageIds"] == [m["id"]]
    else:
        assert client.delete("/api/agents/rival").status_code == 200
    assert bodies(client, "me", **params) == ["contested"]


@pytest.mark.parametrize("change, to", [({"tags": ["py", "new"]}, "tag:new"),
                                        ({"label": "lead"}, "label:lead"),
                                        ({"capabilities": ["ci"]}, "cap:ci")])
def test_an_address_gained_later_shows_what_was_sent_before(client, known_empty, change, to):
    register(client, "me", tags=["py"])
    since = latest(client)
    send(client, "boss", to, "sent before")
    params = known_empty("me", since=since)
    assert client.patch("/api/agents/me", json=change).status_code == 200
    assert bodies(client, "me", **params) == ["sent before"]


def test_registering_again_with_new_tags(client, known_empty):
    register(client, "me")
    since = latest(client)
    send(client, "boss", "tag:late", "waiting")
    params = known_empty("me", since=since)
    register(client, "me", tags=["late"])
    assert bodies(client, "me", **params) == ["waiting"]


def test_removed_and_registered_again(client, known_empty):
    register(client, "me", tags=["py"])
    params = known_empty("me")
    assert client.delete("/api/agents/me").status_code == 200
    send(client, "boss", "tag:py", "while away")
    register(client, "me", tags=["py"])
    assert bodies(client, "me", **params) == ["while away"]


def test_filtered_polls_are_remembered_apart(client, known_empty):
    register(client, "me")
    since = latest(client)
    known_empty("me", since=since, kind="task")
    known_empty("me", since=since, unread="true")
    send(client, "boss", "me", "a chat")
    # Not a task: the kind=task poll may still be []; the others see it.
    assert bodies(client, "me", since=since, kind="task") == []
    assert bodies(client, "me", since=since, unread="true") == ["a chat"]
    assert bodies(client, "me", since=since) == ["a chat"]


def test_an_earlier_since_reads_the_database(client, known_empty):
    register(client, "me")
    m = send(client, "boss", "me", "old")
    known_empty("me", since=m["id"])
    assert bodies(client, "me", since=m["id"] - 1) == ["old"]


def test_own_messages_and_others_inboxes_do_not_disturb_it(client, known_empty, relay_, backend):
    register(client, "me", tags=["py"])
    register(client, "other")
    params = known_empty("me")
    send(client, "me", "other", "mine to other")
    send(client, "boss", "other", "for other")
    hits = relay_.empty_polls.hits
    assert bodies(client, "me", **params) == []
    # The send from `me` names it: that one poll reads the database again.
    assert bodies(client, "me", **params) == []
    assert relay_.empty_polls.hits == (hits + 1 if backend == "sqlite" else 0)


def test_a_long_poll_woken_by_a_message_finds_it(live):
    import threading
    import time
    live.request("POST", "/api/agents", {"id": "me"})
    since = live.request("GET", "/api/messages/cursor")[1]["latestId"]
    for _ in range(2):
        assert live.request("GET", f"/api/messages?for=me&since={since}")[1] == []
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        live.request("GET", f"/api/messages?for=me&since={since}&wait=30")[1]))
    waiter.start()
    # The long poll has subscribed once its slot shows in health.
    while live.request("GET", "/api/health")[1]["streams"]["poll"] == 0:
        time.sleep(0.01)
    live.request("POST", "/api/messages", {"from": "boss", "to": "me", "body": "wake"})
    waiter.join(30)
    assert [m["body"] for m in answers[0]] == ["wake"]


# --- acknowledgements: a message shown again past the cursor ------------------------

def from_database(client, relay_, agent_id, clock, **params):
    """What the database answers for this poll, memory aside (store/messages.py inbox)."""
    from relay.server.domain.addresses import inbox_addresses
    from relay.server.store import messages
    agent = client.get(f"/api/agents/{agent_id}").get_json()
    conn = db.connect(relay_.settings.db)
    try:
        found, _ = messages.inbox(conn, agent_id, inbox_addresses(agent), clock(),
                                  since=params["since"],
                                  ack_pending=params.get("ackPending") == "1")
        return [m["body"] for m in json.loads(found.text)]
    finally:
        conn.close()


def same_as_database(client, relay_, clock, agent_id, **params):
    """The poll's bodies, checked equal to what the database answers just before it."""
    expected = from_database(client, relay_, agent_id, clock, **params)
    assert bodies(client, agent_id, **params) == expected
    return expected


@pytest.mark.parametrize("ack_pending", [False, True])
@pytest.mark.parametrize("how", ["deadline", "nack"])
def test_a_redelivery_by_the_reaper_shows_the_message_again(client, known_empty, relay_, clock,
                                                             how, ack_pending):
    register(client, "me")
    register(client, "boss")
    m = send(client, "boss", "me", "review", ackRequired=True, ackWithinSeconds=60)
    assert bodies(client, "me", since=0) == ["review"]          # delivery 1; the cursor moves
    extra = {"ackPending": "1"} if ack_pending else {}
    params = known_empty("me", since=m["id"], **extra)
    if how == "nack":
        r = client.post(f"/api/messages/{m['id']}/nack",
                        json={"agentId": "me", "retryInSeconds": 30})
        assert r.status_code == 200, r.get_json()
        assert same_as_database(client, relay_, clock, "me", **params) == []
        clock.advance(30)
    else:
        clock.advance(59)
        assert client.post("/api/system/reap").get_json()["redeliveredReceipts"] == []
        assert same_as_database(client, relay_, clock, "me", **params) == []
        clock.advance(1)
    # Due, not yet redelivered: the database still answers [], and so may memory.
    assert same_as_database(client, relay_, clock, "me", **params) == []
    report = client.post("/api/system/reap").get_json()
    assert report["redeliveredReceipts"] == [{"messageId": m["id"], "agentId": "me"}]
    # Shown again below the cursor: the reaper's message.redelivered forgot the empty poll.
    shown = inbox(client, "me", **params)
    assert [(x["id"], x["redelivered"]) for x in shown] == [(m["id"], True)]
    # Shown once: the next poll from the same cursor is empty again, as the database says.
    assert same_as_database(client, relay_, clock, "me", **params) == []


"""Bad input on the event routes (test client): every 400 names its field."""
import pytest

from relay.server.domain.addresses import concerns, inbox_addresses, reaches, split

from .conftest import register


@pytest.mark.parametrize("query,status,error", [
    ("types=" + "x" * 121, 400,
     "types must be comma separated event type prefixes of at most 120 characters each (empty: all)"),
    ("agentId=a%20b", 404, "agent a b not found"),
    ("agentId=ghost", 404, "agent ghost not found"),
    ("since=-1", 400, "since must be an integer between 0 and 9223372036854775807"),
    ("limit=501", 400, "limit must be an integer between 1 and 500"),
])
def test_recent_events_bad_query(client, query, status, error):
    r = client.get("/api/events/recent?" + query)
    assert (r.status_code, r.get_json()) == (status, {"error": error})


@pytest.mark.parametrize("query,error", [
    ("since=abc", "Last-Event-ID or since must be a non-negative integer id"),
    ("since=1.5", "Last-Event-ID or since must be a non-negative integer id"),
    ("types=" + "y" * 121, "types must be comma separated event type prefixes of at most 120 "
     "characters each (empty: all)"),
])
def test_sse_bad_query_is_400_before_streaming(client, relay_, query, error):
    r = client.get("/api/events?" + query)
    assert (r.status_code, r.get_json()) == (400, {"error": error})
    assert relay_.slots.snapshot()["sse"] == 0          # no slot was taken


def test_recent_events_filters(client):
    register(client, "a", label="L")
    register(client, "b")
    client.post("/api/messages", json={"from": "b", "to": "label:L", "body": "1"})
    client.post("/api/messages", json={"from": "a", "to": "b", "body": "2"})
    client.post("/api/messages", json={"from": "z", "to": "b", "body": "3"})
    mine = client.get("/api/events/recent?agentId=a&types=message.").get_json()
    assert [e["data"]["body"] for e in mine] == ["1", "2"]
    assert [e["type"] for e in client.get("/api/events/recent?types=agent.,activity.").get_json()] \
        == ["agent.status", "activity.created"] * 2


def test_address_matching():
    agent = {"id": "a", "label": "L", "tags": ["t"], "capabilities": ["c"]}
    assert split("broadcast") == ("broadcast", "")
    assert split("pool:p") == ("pool", "p") and split("x:y") == ("direct", "x:y")
    assert inbox_addresses(agent) == ["a", "broadcast", "label:L", "tag:t", "cap:c"]
    assert [reaches(a, agent) for a in ("a", "b", "broadcast", "label:L", "label:M", "tag:t",
                                        "cap:c", "cap:d", "pool:p", "policy:q", None)] == \
        [True, False, True, True, False, True, True, False, False, False, False]
    assert concerns({"to": "pool:p", "agents": ["a"]}, agent)
    assert not concerns({"to": "pool:p", "agents": ["b"]}, agent)
    assert not concerns(None, agent)

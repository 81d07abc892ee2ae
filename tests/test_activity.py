"""The activity feed."""
import pytest


def test_post_and_list(client, clock):
    r = client.post("/api/activity", json={"kind": "note", "title": "deploy done", "body": "v2",
                                           "icon": "rocket", "view": "ops", "agentId": "a",
                                           "meta": {"sha": "abc"}})
    assert r.status_code == 201
    entry = r.get_json()
    assert entry == {"id": 1, "clientId": None, "kind": "note", "title": "deploy done", "body": "v2",
                     "icon": "rocket", "view": "ops", "agentId": "a", "meta": {"sha": "abc"},
                     "createdAt": clock()}
    client.post("/api/activity", json={"kind": "system", "title": "second"})
    titles = [e["title"] for e in client.get("/api/activity").get_json()]
    assert titles == ["second", "deploy done"]
    assert [e["title"] for e in client.get("/api/activity?kind=note").get_json()] == ["deploy done"]
    assert [e["title"] for e in client.get("/api/activity?agentId=a").get_json()] == ["deploy done"]
    assert [e["title"] for e in client.get("/api/activity?before=2").get_json()] == ["deploy done"]
    assert [e["title"] for e in client.get("/api/activity?limit=1").get_json()] == ["second"]
    assert client.get("/api/events/recent").get_json()[0]["type"] == "activity.created"


def test_client_id_stored_once(client):
    first = client.post("/api/activity", json={"clientId": "c1", "kind": "note", "title": "one"})
    again = client.post("/api/activity", json={"clientId": "c1", "kind": "note", "title": "two"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert len(client.get("/api/activity").get_json()) == 1
    assert len(client.get("/api/events/recent").get_json()) == 1


@pytest.mark.parametrize("body,error", [
    ({"title": "t"}, "kind is required"),
    ({"kind": "gossip", "title": "t"}, "kind must be one of state, message, task, command, system, note"),
    ({"kind": "note"}, "title is required"),
    ({"kind": "note", "title": "t" * 241}, "title must be at most 240 characters"),
    ({"kind": "note", "title": "t", "meta": "x"}, "meta must be a JSON object"),
    ({"kind": "note", "title": "t", "agentId": "a b"},
     "agentId must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
])
def test_bad_input(client, body, error):
    r = client.post("/api/activity", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_bad_kind_filter(client):
    assert client.get("/api/activity?kind=zzz").status_code == 400

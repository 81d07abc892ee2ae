"""The config store: versions, history, expectedVersion, namespace schemas."""
import pytest

POLICY = {"orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app"}


def put(client, path, status=None, **body):
    r = client.put(f"/api/config/{path}", json=body)
    if status is not None:
        assert r.status_code == status, r.get_json()
    return r


def test_versions_and_history(client, clock):
    first = put(client, "team/lead", 201, value={"who": "ann"}, updatedBy="ann").get_json()
    assert first == {"namespace": "team", "key": "lead", "value": {"who": "ann"}, "version": 1,
                     "updatedBy": "ann", "updatedAt": clock()}
    clock.advance(1)
    assert put(client, "team/lead", 200, value=["bob"]).get_json()["version"] == 2
    put(client, "team/a-key", 201, value=3)
    assert [e["key"] for e in client.get("/api/config/team").get_json()] == ["a-key", "lead"]
    assert client.get("/api/config/team/lead").get_json()["value"] == ["bob"]
    clock.advance(1)
    assert client.delete("/api/config/team/lead?updatedBy=cy").get_json() == {"ok": True}
    assert client.get("/api/config/team/lead").status_code == 404
    assert client.delete("/api/config/team/lead").status_code == 404
    assert [e["key"] for e in client.get("/api/config/team").get_json()] == ["a-key"]
    again = put(client, "team/lead", 201, value=None).get_json()
    assert (again["version"], again["value"]) == (4, None)
    history = client.get("/api/config/team/lead/history").get_json()
    assert [(h["version"], h["action"], h["value"], h["updatedBy"]) for h in history] == [
        (4, "set", None, None), (3, "delete", None, "cy"), (2, "set", ["bob"], None),
        (1, "set", {"who": "ann"}, "ann")]
    assert history[1]["updatedAt"] == clock()
    assert len(client.get("/api/config/team/lead/history?limit=2").get_json()) == 2
    assert client.get("/api/config/team/nothing/history").get_json() == []
    assert client.get("/api/config/nothing").get_json() == []
    changed = [e["data"] for e in client.get("/api/events/recent").get_json()
               if e["type"] == "config.changed" and e["data"]["key"] == "lead"]
    assert [(d["version"], d["action"]) for d in changed] == [(1, "set"), (2, "set"),
                                                              (3, "delete"), (4, "set")]


def test_expected_version(client):
    r = put(client, "ns/k", 409, value=1, expectedVersion=1)
    assert r.get_json() == {"error": "expectedVersion 1 is not the current version (0) of ns/k"}
    put(client, "ns/k", 201, value=1, expectedVersion=0)
    put(client, "ns/k", 200, value=2, expectedVersion=1)
    r = put(client, "ns/k", 409, value=3, expectedVersion=1)
    assert r.get_json() == {"error": "expectedVersion 1 is not the current version (2) of ns/k"}
    assert client.get("/api/config/ns/k").get_json()["value"] == 2
    assert client.delete("/api/config/ns/k?expectedVersion=1").status_code == 409
    assert client.delete("/api/config/ns/k?expectedVersion=2").status_code == 200
    put(client, "ns/k", 201, value=5, expectedVersion=3)


def test_spawn_policy_values_are_checked_and_completed(client):
    entry = put(client, "spawn-policy/reviewer", 201, value=POLICY).get_json()
    assert entry["value"] == {
        **POLICY, "name": "reviewer", "tags": [], "capabilities": [], "permissionMode": "guarded",
        "providerArgs": [], "mode": "manual", "enabled": True,
        "restart": {"maxPerDay": 10, "backoffSeconds": 5, "maxBackoffSeconds": 300},
        "startTimeoutSeconds": 120, "idleStopSeconds": 900, "queue": {"maxAgeSeconds": 86400}}


@pytest.mark.parametrize("path,value,error", [
    ("spawn-policy/p", 5, "value must be a JSON object"),
    ("spawn-policy/p", {"provider": "claude", "cwd": "/"}, "value.orchestratorId is required"),
    ("spawn-policy/p", {**POLICY, "provider": "GPT"}, "value.provider must be a provider "
     "name: a lower-case letter, then at most 63 lower-case letters, digits or -"),
    ("spawn-policy/p", {**POLICY, "mode": "sometimes"},
     "value.mode must be one of always, on-demand, manual"),
    ("spawn-policy/p", {**POLICY, "restart": {"backoffSeconds": -1}},
     "value.restart.backoffSeconds must be an integer between 0 and 86400"),
    ("spawn-policy/p", {**POLICY, "tags": "x"}, "value.tags must be a list"),
    ("spawn-policy/p", {**POLICY, "cwd": "/" * 501}, "value.cwd must be at most 500 characters"),
    ("provider-config/gemini", {}, "key must be one of claude, codex"),
    ("provider-config/claude", {"env": {"HOME": 1}}, "value.env.HOME must be a string"),
    ("provider-config/claude", {"args": [1]}, "value.args[0] must be a string"),
    ("ns/a b", 1, "key must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
])
def test_bad_values_name_the_field(client, path, value, error):
    r = put(client, path, 400, value=value)
    assert r.get_json() == {"error": error}
    assert client.get(f"/api/config/{path}").status_code == 404


@pytest.mark.parametrize("body,error", [
    ({}, "value is required"),
    ({"value": 1, "updatedBy": 5}, "updatedBy must be a string"),
    ({"value": 1, "expectedVersion": "1"}, "expectedVersion must be an integer between 0 and "
     "9007199254740992"),
])
def test_bad_bodies_name_the_field(client, body, error):
    r = client.put("/api/config/ns/k", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_provider_config(client):
    entry = put(client, "provider-config/codex", 201, value={"model": "o4", "env": {"K": "v"}})
    assert entry.get_json()["value"] == {"model": "o4", "args": [], "env": {"K": "***"}}


def test_names_no_key_could_have(client):
    r = client.get("/api/config/a%20b")
    assert (r.status_code, r.get_json()) == (404, {
        "error": "no namespace a b: names are 1-240 characters of A-Z a-z 0-9 . _ : @ + -"})
    r = client.get("/api/config/ns/a%20b/history")
    assert (r.status_code, r.get_json()) == (400, {
        "error": "key must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"})


@pytest.mark.parametrize("path,error", [
    ("/api/config/ns/k/history?limit=0", "limit must be an integer between 1 and 500"),
    ("/api/config/ns/k/history?limit=x", "limit must be an integer between 1 and 500"),
])
def test_bad_queries_name_the_field(client, path, error):
    r = client.get(path)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_bad_delete_query_names_the_field(client):
    put(client, "ns/k", 201, value=1)
    r = client.delete("/api/config/ns/k?expectedVersion=one")
    assert (r.status_code, r.get_json()) == (400, {
        "error": "expectedVersion must be an integer between 0 and 9007199254740992"})
    r = client.delete("/api/config/ns/k?updatedBy=" + "u" * 201)
    assert r.get_json() == {"error": "updatedBy must be at most 200 characters"}
    assert client.get("/api/config/ns/k").status_code == 200

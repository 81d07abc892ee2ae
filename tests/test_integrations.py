"""Integrations, their tokens and scopes, their events, the rate limit,
and the signed callbacks of the tasks they open."""
import hashlib
import hmac
from relay.server import db

import pytest

from relay.server import create_app
from relay.server.settings import ConfigError, Settings

from .receiver import Receiver

RELAY = {"X-Agent-Relay-Token": "relay-secret"}


@pytest.fixture
def make(db_path, clock):
    apps = []

    def build(**settings):
        app = create_app(Settings(db=db_path, token="relay-secret", **settings), clock)
        apps.append(app)
        return app.test_client()
    yield build
    for app in apps:
        app.extensions["relay"].stop()


@pytest.fixture
def guarded(make):
    return make()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def integration(client, name="ci", scopes=("events:write", "tasks:write"), **fields):
    r = client.post("/api/integrations", json={"name": name, "scopes": list(scopes), **fields},
                    headers=RELAY)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_create_answers_the_token_once_and_stores_only_its_hash(guarded, db_path, clock):
    created = integration(guarded, secret="s3cret")
    token = created["token"]
    assert created["integration"] == {"name": "ci", "scopes": ["events:write", "tasks:write"],
                                      "hasSecret": True, "origin": "api", "eventCount": 0,
                                      "lastEventAt": None, "createdAt": clock()}
    listed = guarded.get("/api/integrations", headers=RELAY).get_json()
    assert listed == [created["integration"]]
    row = tuple(db.connect(db_path).execute("SELECT * FROM integrations").fetchone())
    assert hashlib.sha256(token.encode()).hexdigest() in row
    assert token not in row
    r = guarded.post("/api/integrations", json={"name": "ci", "scopes": ["tasks:write"]},
                     headers=RELAY)
    assert r.status_code == 409 and r.get_json() == {"error": "integration ci already exists"}


@pytest.mark.parametrize("body,error", [
    ({"scopes": ["tasks:write"]}, "name is required"),
    ({"name": "a b", "scopes": ["tasks:write"]},
     "name must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"name": "ci"}, "scopes is required"),
    ({"name": "ci", "scopes": []},
     "scopes must be a list of 1-3 of events:write, tasks:write, messages:write"),
    ({"name": "ci", "scopes": ["admin"]},
     "scopes must be a list of 1-3 of events:write, tasks:write, messages:write"),
    ({"name": "ci", "scopes": "tasks:write"},
     "scopes must be a list of 1-3 of events:write, tasks:write, messages:write"),
    ({"name": "ci", "scopes": ["tasks:write"], "secret": ""},
     "secret must not be empty"),
    ({"name": "ci", "scopes": ["tasks:write"], "secret": "s" * 257},
     "secret must be at most 256 characters"),
])
def test_bad_integration_is_400_naming_the_field(guarded, body, error):
    r = guarded.post("/api/integrations", json=body, headers=RELAY)
    assert r.status_code == 400 and r.get_json() == {"error": error}


def test_scopes_open_their_routes_and_nothing_else(guarded):
    tasks_only = bearer(integration(guarded, "desk", ["tasks:write"])["token"])
    r = guarded.post("/api/tasks", json={"title": "printer on fire"}, headers=tasks_only)
    assert r.status_code == 201 and r.get_json()["integration"] == "desk"
    task_id = r.get_json()["id"]
    assert guarded.post(f"/api/tasks/{task_id}/events", json={"note": "n"},
                        headers=tasks_only).status_code == 201
    assert guarded.post(f"/api/tasks/{task_id}/status", json={"status": "cancelled"},
                        headers=tasks_only).status_code == 200
    for method, path, body, error in (
            ("post", "/api/messages", {"from": "x", "to": "broadcast", "body": "b"},
             "integration desk lacks the scope messages:write"),
            ("post", "/api/integrations/events", {"type": "t", "title": "t"},
             "integration desk lacks the scope events:write"),
            ("get", "/api/tasks", None, None),
            ("get", f"/api/tasks/{task_id}", None, None),
            ("post", "/api/integrations", {"name": "x", "scopes": ["tasks:write"]}, None),
            ("get", "/api/integrations", None, None),
            ("delete", "/api/integrations/desk", None, None),
            ("post", "/api/system/reap", None, None)):
        r = getattr(guarded, method)(path, json=body, headers=tasks_only)
        assert r.status_code == 403, (path, r.get_json())
        assert r.get_json()["error"] == error or (
            error is None and r.get_json()["error"].startswith("integration desk may not use"))
    messenger = bearer(integration(guarded, "bot", ["messages:write"])["token"])
    r = guarded.post("/api/messages", json={"from": "bot", "to": "broadcast", "body": "hi"},
                     headers=messenger)
    assert r.status_code == 201
    assert guarded.post("/api/tasks", json={"title": "t"}, headers=messenger).get_json() == {
        "error": "integration bot lacks the scope tasks:write"}
    # The relay token opens everything; no token or a made-up one is 401.
    assert guarded.get("/api/tasks", headers=RELAY).status_code == 200
    assert guarded.post("/api/tasks", json={"title": "t"}).status_code == 401
    assert guarded.post("/api/tasks", json={"title": "t"},
                        headers=bearer("rit_madeup")).status_code == 401


def test_a_deleted_integrations_token_stops_at_once(guarded):
    token = bearer(integration(guarded)["token"])
    assert guarded.post("/api/tasks", json={"title": "t"}, headers=token).status_code == 201
    r = guarded.delete("/api/integrations/ci", headers=RELAY)
    assert r.status_code == 200 and r.get_json() == {"ok": True}
    r = guarded.post("/api/tasks", json={"title": "t"}, headers=token)
    assert r.status_code == 401
    assert guarded.delete("/api/integrations/ci", headers=RELAY).get_json() == {
        "error": "integration ci not found"}
    assert guarded.get("/api/integrations", headers=RELAY).get_json() == []


def test_tokens_from_the_environment(make):
    client = make(integration_tokens="ci=tok-ci, mon=tok-mon")
    listed = client.get("/api/integrations", headers=RELAY).get_json()
    assert [(i["name"], i["origin"], i["scopes"], i["hasSecret"]) for i in listed] == [
        ("ci", "env", ["events:write", "tasks:write", "messages:write"], False),
        ("mon", "env", ["events:write", "tasks:write", "messages:write"], False)]
    r = client.post("/api/integrations/events", json={"type": "disk", "title": "disk full"},
                    headers={"X-Agent-Relay-Token": "tok-mon"})
    assert r.status_code == 201 and r.get_json()["source"] == "mon"
    r = client.delete("/api/integrations/ci", headers=RELAY)
    assert r.status_code == 409 and r.get_json() == {
        "error": "integration ci comes from RELAY_INTEGRATION_TOKENS: remove it there"}
    # The next start without "mon" drops it (and its token).
    client = make(integration_tokens="ci=tok-ci")
    assert [i["name"] for i in client.get("/api/integrations", headers=RELAY).get_json()] == [
        "ci"]
    assert client.post("/api/tasks", json={"title": "t"},
                       headers=bearer("tok-mon")).status_code == 401


@pytest.mark.parametrize("value", ["ci", "=tok", "a b=tok", "ci="])
def test_bad_environment_tokens_are_refused(db_path, value):
    with pytest.raises(ConfigError, match="RELAY_INTEGRATION_TOKENS must be name=token pairs"):
        create_app(Settings(db=db_path, integration_tokens=value))


def test_events_open_and_fold_tasks(guarded, clock):
    token = bearer(integration(guarded)["token"])
    event = {"type": "ci.failed", "title": "suite red on main", "dedupeKey": "ci:main",
             "severity": "high", "payload": {"run": 41}}
    r = guarded.post("/api/integrations/events", json=event, headers=token)
    assert r.status_code == 201
    task = r.get_json()
    assert (task["source"], task["meta"], task["integration"], task["severity"],
            task["payload"]) == ("ci", {"eventType": "ci.failed"}, "ci", "high", {"run": 41})
    clock.advance(5)
    r = guarded.post("/api/integrations/events", json={**event, "source": "jenkins"},
                     headers=token)
    assert r.status_code == 200
    assert (r.get_json()["id"], r.get_json()["occurrences"]) == (task["id"], 2)
    [summary] = guarded.get("/api/integrations", headers=RELAY).get_json()
    assert (summary["eventCount"], summary["lastEventAt"]) == (2, clock())
    # The relay token may send events too.
    r = guarded.post("/api/integrations/events", json={"type": "x", "title": "by hand"},
                     headers=RELAY)
    assert r.status_code == 201 and r.get_json()["source"] is None


def test_an_event_with_a_channel_is_routed_through_its_bindings(guarded, relay_):
    token = bearer(integration(guarded)["token"])
    for agent in ("oncall", "lead"):
        assert guarded.post("/api/agents", json={"id": agent}, headers=RELAY).status_code == 201
    guarded.post("/api/channels/slack:ops/bindings", headers=RELAY,
                 json={"target": {"type": "agent", "id": "oncall"}, "mode": "broadcast"})
    guarded.post("/api/channels/slack:ops/bindings", headers=RELAY,
                 json={"target": {"type": "agent", "id": "lead"}, "mode": "broadcast"})
    event = {"type": "alert", "title": "disk 95% on db-2", "severity": "high",
             "channel": "slack:ops", "dedupeKey": "disk-db-2", "payload": {"host": "db-2"}}
    r = guarded.post("/api/integrations/events", json=event, headers=token)
    assert r.status_code == 201
    routed = r.get_json()
    assert [m["to"] for m in routed["messages"]] == ["oncall", "lead"]
    first = routed["messages"][0]
    assert (first["kind"], first["channel"], first["from"], first["subject"], first["body"]) == (
        "channel.event", "slack:ops", "ci", "disk 95% on db-2", "disk 95% on db-2")
    assert first["payload"] == {"host": "db-2", "type": "alert", "severity": "high",
                                "source": "ci"}
    # The dedupeKey is the idempotency key: a repeat answers the first routing.
    again = guarded.post("/api/integrations/events", json=event, headers=token)
    assert (again.status_code, again.get_json()) == (200, routed)
    assert guarded.get("/api/tasks", headers=RELAY).get_json() == []
    [summary] = guarded.get("/api/integrations", headers=RELAY).get_json()
    assert summary["eventCount"] == 1
    r = guarded.post("/api/integrations/events", headers=token,
                     json={"type": "x", "title": "t", "channel": "nowhere"})
    assert (r.status_code, r.get_json()) == (404, {"error": "channel nowhere not found"})


def test_a_policy_binding_queues_the_event_until_the_policy_runs(guarded, relay_):
    from relay.server import db
    from relay.server.store import config, policies
    conn = db.connect(relay_.settings.db)
    with db.transaction(conn):
        config.put(conn, "spawn-policy", "night", {"name": "night", "orchestratorId": "o1",
                                                   "provider": "claude"}, 0)
        policies.set_starting(conn, "night", "sp_1", 0)
    conn.close()
    token = bearer(integration(guarded)["token"])
    guarded.post("/api/channels/pager/bindings", headers=RELAY,
                 json={"target": {"type": "policy", "id": "night"}})
    r = guarded.post("/api/integrations/events", headers=token,
                     json={"type": "page", "title": "wake up", "channel": "pager"})
    assert r.status_code == 201
    assert r.get_json()["routes"][0]["deliveryStatus"] == "queued"


@pytest.mark.parametrize("body,error", [
    ({"title": "t"}, "type is required"),
    ({"type": "", "title": "t"}, "type must not be empty"),
    ({"type": "t"}, "title is required"),
    ({"type": "t", "title": "t", "callbackUrl": "gopher://x"},
     "callbackUrl must be an http or https URL with a host name or IPv4 address (at most 2000 characters)"),
    ({"type": "t", "title": "t", "severity": "meh"},
     "severity must be one of info, low, medium, high, critical"),
    ({"type": "t", "title": "t", "channel": 5}, "channel must be a string"),
])
def test_bad_event_is_400_naming_the_field(guarded, body, error):
    r = guarded.post("/api/integrations/events", json=body, headers=RELAY)
    assert r.status_code == 400 and r.get_json() == {"error": error}


def test_the_61st_event_in_a_minute_is_429_with_retry_after(guarded, clock):
    ci = bearer(integration(guarded)["token"])
    other = bearer(integration(guarded, "mon")["token"])
    event = {"type": "t", "title": "flaky", "dedupeKey": "flaky"}
    for i in range(60):
        assert guarded.post("/api/integrations/events", json=event, headers=ci).status_code in (
            200, 201)
        if i == 0:
            clock.advance(10)
    r = guarded.post("/api/integrations/events", json=event, headers=ci)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "50"
    assert r.get_json() == {
        "error": "more than 60 requests a minute for this token: retry in 50 s"}
    # Another token has its own allowance; the refused event counted nothing.
    assert guarded.post("/api/integrations/events", json=event, headers=other).status_code == 200
    summary = {i["name"]: i["eventCount"]
               for i in guarded.get("/api/integrations", headers=RELAY).get_json()}
    assert summary == {"ci": 60, "mon": 1}
    clock.advance(50)          # the first event leaves the window
    assert guarded.post("/api/integrations/events", json=event, headers=ci).status_code == 200
    assert guarded.post("/api/integrations/events", json=event, headers=ci).status_code == 429


def test_rate_limit_setting(make):
    client = make(integration_rate_limit=2)
    token = bearer(integration(client)["token"])
    codes = [client.post("/api/integrations/events", json={"type": "t", "title": "t"},
                         headers=token).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_callbacks_of_an_integrations_tasks_are_signed(clock, make):
    # Loopback is reached for an integration's URL only when listed (README, outbound).
    guarded = make(outbound_allow="127.0.0.0/8")
    receiver = Receiver()
    try:
        token = bearer(integration(guarded, secret="whsec-42")["token"])
        plain = bearer(integration(guarded, "nosecret")["token"])
        signed = guarded.post("/api/integrations/events", headers=token, json={
            "type": "ci.failed", "title": "red", "callbackUrl": receiver.url}).get_json()
        unsigned = guarded.post("/api/tasks", headers=plain, json={
            "title": "red", "callbackUrl": receiver.url}).get_json()
        for task in (signed, unsigned):
            r = guarded.post(f"/api/tasks/{task['id']}/status", headers=RELAY,
                             json={"status": "resolved", "result": {"commit": "abc"}})
            assert r.status_code == 200
        relay_ = guarded.application.extensions["relay"]
        assert relay_.callbacks.run_once() == 2
        got = {}
        for _ in range(2):
            message = receiver.take()
            got[message["json"]["task"]["id"]] = message
        expected = "sha256=" + hmac.new(b"whsec-42", got[signed["id"]]["raw"],
                                        hashlib.sha256).hexdigest()
        assert got[signed["id"]]["headers"]["X-Relay-Signature"] == expected
        assert got[signed["id"]]["json"]["task"]["result"] == {"commit": "abc"}
        assert "X-Relay-Signature" not in got[unsigned["id"]]["headers"]
    finally:
        receiver.close()


def test_an_integration_cannot_be_named_events(client):
    r = client.post("/api/integrations", json={"name": "events", "scopes": ["events:write"]})
    assert (r.status_code, r.get_json()) == (
        400, {"error": "name must not be events (POST /api/integrations/events is a route)"})
    r = client.options("/api/integrations/events")
    assert set(r.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    r = client.post("/api/integrations", json={"name": "events.ci", "scopes": ["events:write"]})
    assert r.status_code == 201
    assert client.delete("/api/integrations/events.ci").status_code == 200


def test_an_integration_reaches_only_the_tasks_it_opened(guarded):
    desk = bearer(integration(guarded, "desk", ["tasks:write"])["token"])
    other = bearer(integration(guarded, "other", ["tasks:write"])["token"])
    mine = guarded.post("/api/tasks", json={"title": "mine"}, headers=desk).get_json()
    theirs = guarded.post("/api/tasks", json={"title": "theirs"}, headers=other).get_json()
    relays = guarded.post("/api/tasks", json={"title": "relay's"}, headers=RELAY).get_json()
    for task in (theirs, relays):
        for path, body in (("status", {"status": "cancelled"}), ("events", {"note": "n"})):
            r = guarded.post(f"/api/tasks/{task['id']}/{path}", json=body, headers=desk)
            assert (r.status_code, r.get_json()) == (403, {
                "error": f"integration desk may act only on the tasks it opened (task "
                         f"{task['id']} is not one)"})
    assert guarded.get(f"/api/tasks/{theirs['id']}", headers=RELAY).get_json()["status"] == "open"
    assert guarded.post(f"/api/tasks/{mine['id']}/status", json={"status": "cancelled"},
                        headers=desk).status_code == 200
    # An unknown task is still the view's 404.
    assert guarded.post("/api/tasks/999/status", json={"status": "cancelled"},
                        headers=desk).status_code == 404


def test_an_integration_sends_as_itself_and_never_as_the_system(guarded):
    bot = bearer(integration(guarded, "bot", ["messages:write"])["token"])
    r = guarded.post("/api/messages", json={"from": "claude-1", "to": "broadcast", "body": "b"},
                     headers=bot)
    assert (r.status_code, r.get_json()) == (403, {
        "error": "from must be bot: an integration token sends as its integration"})
    r = guarded.post("/api/messages", json={"from": "bot", "to": "broadcast", "body": "b",
                                            "kind": "system"}, headers=bot)
    assert (r.status_code, r.get_json()) == (403, {
        "error": "kind system is the relay's own: an integration token may not send it"})
    assert guarded.get("/api/stats", headers=RELAY).get_json()["messages"]["total"] == 0


def test_every_route_an_integration_reaches_is_rate_limited(make):
    client = make(integration_rate_limit=3)
    token = bearer(integration(client, "desk", ["tasks:write", "messages:write"])["token"])
    task = client.post("/api/tasks", json={"title": "t"}, headers=token).get_json()
    assert client.post(f"/api/tasks/{task['id']}/events", json={"note": "n"},
                       headers=token).status_code == 201
    assert client.post("/api/messages", json={"from": "desk", "to": "broadcast", "body": "b"},
                       headers=token).status_code == 201
    for method, path, body in (("post", "/api/tasks", {"title": "t"}),
                               ("post", f"/api/tasks/{task['id']}/status", {"status": "blocked"}),
                               ("post", "/api/messages", {"from": "desk", "to": "broadcast",
                                                          "body": "b"})):
        r = getattr(client, method)(path, json=body, headers=token)
        assert r.status_code == 429 and r.headers["Retry-After"] == "60", path
    assert client.get("/api/tasks", headers=RELAY).status_code == 200     # not the relay token
    assert len(client.get("/api/tasks", headers=RELAY).get_json()) == 1


@pytest.mark.parametrize("token", [True, False])
def test_an_unknown_bearer_token_is_401_with_or_without_a_relay_token(db_path, clock, token):
    app = create_app(Settings(db=db_path, token="relay-secret" if token else None), clock)
    try:
        client = app.test_client()
        for header in ("Bearer rit_madeup", "Bearer ", "bearer nope"):
            r = client.get("/api/agents", headers={"Authorization": header})
            assert r.status_code == 401, header
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="relay"'
        assert client.get("/api/health", headers=bearer("rit_madeup")).status_code == 200
        if not token:
            assert client.get("/api/agents").status_code == 200
            assert client.get("/api/agents", headers={"Authorization": "Basic eDp5"}
                              ).status_code == 200
    finally:
        app.extensions["relay"].stop()

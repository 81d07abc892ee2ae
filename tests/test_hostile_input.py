"""Input a hostile or careless client sends: never a 500, never stored.

Each of these made a 500, or stored something that broke every later
reader, before requests were declared once (contract.py, strict_json.py).
"""
import json

import pytest
from simple_websocket import Client

from .conftest import register, send

BIG = 2**63                      # one past the largest SQLite integer


def post_raw(client, path, text):
    return client.post(path, data=text, content_type="application/json")


def test_empty_client_id_twice_is_two_entries(client):
    first = client.post("/api/activity", json={"clientId": "", "kind": "note", "title": "a"})
    second = client.post("/api/activity", json={"clientId": "", "kind": "note", "title": "b"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["clientId"] is None
    assert first.get_json()["id"] != second.get_json()["id"]


@pytest.mark.parametrize("path", [f"/api/messages/{BIG}", f"/api/messages/{BIG}/thread",
                                  f"/api/messages/{BIG}/status", "/api/messages/0",
                                  "/api/messages/99999999999999999999"])
def test_id_out_of_range_in_a_path_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.get_json() == {"error": f"no route for {path}"}


@pytest.mark.parametrize("method", ["delete", "post"])
def test_id_out_of_range_is_404_for_every_method(client, method):
    r = getattr(client, method)(f"/api/messages/{BIG}")
    assert r.status_code in (404, 405)
    if method == "delete":
        assert r.status_code == 404


def test_id_out_of_range_in_a_body_is_400(client):
    register(client, "bob")
    r = client.post("/api/messages/read", json={"agentId": "bob", "ids": [BIG]})
    assert (r.status_code, r.get_json()) == (
        400, {"error": "ids must be a list of 1-500 positive integer message ids"})
    r = client.post("/api/messages", json={"from": "a", "to": "bob", "body": "x", "replyTo": BIG})
    assert (r.status_code, r.get_json()) == (
        400, {"error": f"replyTo must be an integer between 1 and {BIG - 1}"})


@pytest.mark.parametrize("query,name", [
    ("limit=--5", "limit"), ("limit=%2B5", "limit"), ("since=%C2%B2", "since"),
    ("since=%EF%BC%95", "since"),            # a full-width 5
    ("since=%D9%A5", "since"),               # an Arabic-Indic 5
    ("limit=5%0A", "limit"), ("since=1e3", "since"),
    (f"since={BIG}", "since"), ("since=123456789012345678901234", "since"),
])
def test_only_ascii_digits_are_numbers(client, query, name):
    register(client, "bob")
    r = client.get(f"/api/messages?for=bob&{query}")
    assert r.status_code == 400
    assert r.get_json()["error"].startswith(f"{name} must be an integer between ")


@pytest.mark.parametrize("field", ["body", "subject", "idempotencyKey"])
def test_lone_surrogate_in_a_message_is_400(client, field):
    register(client, "bob")
    message = {"from": "a", "to": "bob", "body": "hi", field: "x\ud800y"}
    r = post_raw(client, "/api/messages", json.dumps(message))       # ensure_ascii: "\ud800"
    assert r.status_code == 400
    assert "unpaired surrogate" in r.get_json()["error"]
    assert client.get("/api/messages/cursor").get_json() == {"latestId": 0}


def test_lone_surrogate_in_a_title_or_label_is_400(client):
    r = post_raw(client, "/api/activity", '{"kind": "note", "title": "\\udfff"}')
    assert r.status_code == 400
    r = post_raw(client, "/api/agents", '{"id": "a", "label": "\\ud83d"}')
    assert r.status_code == 400
    assert client.get("/api/agents").get_json() == []


def test_a_surrogate_pair_is_fine(client):
    register(client, "bob")
    r = post_raw(client, "/api/messages", '{"from": "a", "to": "bob", "body": "\\ud83d\\ude00"}')
    assert r.status_code == 201
    assert r.get_json()["body"] == "\U0001F600"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [65, 1000, 100000])
def test_json_deeper_than_64_levels_is_400(client, depth):
    register(client, "bob")
    text = '{"from": "a", "to": "bob", "body": "x", "payload": {"k": ' + nested(depth) + "}}"
    r = post_raw(client, "/api/messages", text)
    assert r.status_code == 400
    assert r.get_json() == {"error": "request body: JSON is nested deeper than 64 levels"}


def test_json_of_62_levels_in_payload_is_fine(client):
    register(client, "bob")
    text = '{"from": "a", "to": "bob", "body": "x", "payload": {"k": ' + nested(62) + "}}"
    assert post_raw(client, "/api/messages", text).status_code == 201


BODY_ROUTES = [
    ("/api/messages", {"from": "a", "to": "bob", "body": "x", "payload": {"n": "NaN"}}),
    ("/api/messages", {"from": "a", "to": "bob", "body": "x", "meta": {"n": "NaN"}}),
    ("/api/agents", {"id": "c", "meta": {"n": "NaN"}}),
    ("/api/agents/bob", {"meta": {"n": "NaN"}}),
    ("/api/agents/bob/heartbeat", {"n": "NaN"}),
    ("/api/activity", {"kind": "note", "title": "t", "meta": {"n": "NaN"}}),
    ("/api/messages/read", {"agentId": "bob", "ids": [1], "n": "NaN"}),
    ("/api/system/broadcast", {"body": "x", "n": "NaN"}),
]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("path,body", BODY_ROUTES)
def test_nan_and_infinity_are_400_on_every_body_route(client, path, body, constant):
    register(client, "bob")
    text = json.dumps(body).replace('"NaN"', constant)
    method = client.patch if path == "/api/agents/bob" else client.post
    r = method(path, data=text, content_type="application/json")
    assert r.status_code == 400, (path, r.get_json())
    assert r.get_json()["error"].startswith("request body: ")
    assert client.get("/api/messages/cursor").get_json() == {"latestId": 0}


@pytest.mark.parametrize("agent_id", ["a1\n", "a1\r\n", "a b", "a/b", "", "ä"])
def test_an_id_is_the_whole_string(client, agent_id):
    r = client.post("/api/agents", json={"id": agent_id})
    assert (r.status_code, r.get_json()) == (
        400, {"error": "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"})


def test_an_address_is_the_whole_string(client):
    register(client, "bob")
    r = client.post("/api/messages", json={"from": "a", "to": "bob\n", "body": "x"})
    assert r.status_code == 400
    r = client.post("/api/messages", json={"from": "a\n", "to": "bob", "body": "x"})
    assert r.status_code == 400


def test_wrong_token_answer_says_how_to_authenticate(db_path):
    from relay.server import create_app
    from relay.server.settings import Settings
    app = create_app(Settings(db=db_path, token="s3cret"))
    try:
        r = app.test_client().get("/api/agents")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="relay"'
    finally:
        app.extensions["relay"].stop()


def test_websocket_without_upgrade_says_so(client):
    r = client.get("/api/ws")
    assert (r.status_code, r.get_json()) == (
        400, {"error": "GET /api/ws needs a WebSocket upgrade (Upgrade: websocket)"})


@pytest.mark.parametrize("raw,error", [
    ('{"type": "send", "message": {"n": ' + nested(1000) + "}}",
     "a frame: JSON is nested deeper than 64 levels"),
    ('{"type": "ping", "x": NaN}', "a frame: NaN is not standard JSON"),
    ('{"type": "send", "message": {"from": "a", "to": "bob", "body": "x", "meta": {"v": Infinity}}}',
     "a frame: Infinity is not standard JSON"),
    ('{"type": "send", "message": {"from": "a", "to": "bob", "body": "\\ud800"}}',
     "a frame: JSON holds an unpaired surrogate (\\ud800-\\udfff)"),
])
def test_websocket_bad_json_gets_an_error_frame_and_stays(live, raw, error):
    live.request("POST", "/api/agents", {"id": "bob"})
    ws = Client.connect(f"ws://127.0.0.1:{live.port}/api/ws")
    try:
        ws.send(raw)
        answer = json.loads(ws.receive(5))
        assert answer == {"type": "error", "id": None, "error": error, "status": 400}
        ws.send('{"type": "ping", "id": 1}')
        assert json.loads(ws.receive(5)) == {"id": 1, "type": "pong"}
    finally:
        ws.close()
    assert live.request("GET", "/api/messages/cursor")[1] == {"latestId": 0}


def test_what_is_stored_is_strict_json(client):
    """Whatever was accepted reads back as JSON a strict parser takes."""
    register(client, "bob")
    send(client, "a", "bob", "x", payload={"big": 10**30, "f": 1.5, "s": "\U0001F600"})
    text = client.get("/api/messages?for=bob").get_data(as_text=True)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in an answer"))

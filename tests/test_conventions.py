"""Errors, bodies, limits, lists and the token, on every route."""
import pytest

from relay.server import create_app
from relay.server.settings import Settings

from .conftest import register


def test_unknown_route_is_json_404(client):
    r = client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.get_json() == {"error": "no route for /api/nothing-here"}


def test_wrong_method_is_json_405_with_allow(client):
    r = client.put("/api/messages/cursor")
    assert r.status_code == 405
    assert r.get_json() == {"error": "method PUT is not allowed on /api/messages/cursor"}
    assert "GET" in r.headers["Allow"]


def test_other_content_type_is_415(client):
    r = client.post("/api/agents", data="id=a", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert r.get_json() == {"error": "Content-Type must be application/json"}


def test_malformed_json_is_400(client):
    r = client.post("/api/agents", data="{nope", content_type="application/json")
    assert r.status_code == 400
    assert r.get_json() == {"error": "request body is not valid JSON"}


@pytest.mark.parametrize("body", ["[1, 2]", "\"text\"", "3", "null"])
def test_non_object_body_is_400(client, body):
    r = client.post("/api/agents", data=body, content_type="application/json")
    assert r.status_code == 400
    assert r.get_json() == {"error": "request body must be a JSON object"}


def test_body_over_limit_is_413(db_path):
    app = create_app(Settings(db=db_path, max_body_bytes=2048))
    try:
        r = app.test_client().post("/api/messages", data="x" * 4096, content_type="application/json")
        assert r.status_code == 413
        assert r.get_json() == {"error": "request body is larger than 2048 bytes"}
    finally:
        app.extensions["relay"].stop()


def test_internal_error_hides_traceback_and_carries_request_id(app, caplog):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret detail")

    r = app.test_client().get("/api/boom")
    assert r.status_code == 500
    body = r.get_json()
    assert body["error"] == "internal error"
    assert len(body["requestId"]) == 16
    assert "secret" not in r.get_data(as_text=True)
    assert body["requestId"] in caplog.text


@pytest.mark.parametrize("field,value,error", [
    ("name", "n" * 121, "name must be at most 120 characters"),
    ("label", "l" * 121, "label must be at most 120 characters"),
    ("cwd", "/" * 501, "cwd must be at most 500 characters"),
    ("instanceId", "i" * 241, "instanceId must be at most 240 characters"),
])
def test_string_limits_name_the_field(client, field, value, error):
    r = client.post("/api/agents", json={"id": "a", field: value})
    assert r.status_code == 400
    assert r.get_json() == {"error": error}


def test_unknown_fields_are_ignored(client):
    r = client.post("/api/agents", json={"id": "a", "favouriteColour": "green"})
    assert r.status_code == 201
    assert "favouriteColour" not in r.get_json()


@pytest.mark.parametrize("limit", ["0", "501", "abc", "-1", "1.5"])
def test_bad_limit(client, limit):
    r = client.get(f"/api/activity?limit={limit}")
    assert r.status_code == 400
    assert r.get_json() == {"error": "limit must be an integer between 1 and 500"}


@pytest.mark.parametrize("path", ["/api/messages?before=x", "/api/messages?for=a&since=-3"])
def test_bad_cursor(client, path):
    register(client, "a")
    r = client.get(path)
    assert r.status_code == 400
    assert "must be an integer" in r.get_json()["error"]


def test_bad_boolean_query(client):
    r = client.get("/api/agents?includeOffline=maybe")
    assert r.status_code == 400
    assert r.get_json() == {"error": "includeOffline must be 1, 0, true or false"}


# --- the token ---------------------------------------------------------------------

@pytest.fixture
def secured(db_path):
    app = create_app(Settings(db=db_path, token="s3cret"))
    yield app.test_client()
    app.extensions["relay"].stop()


def test_no_token_is_401(secured):
    r = secured.get("/api/agents")
    assert r.status_code == 401
    assert "token" in r.get_json()["error"]


@pytest.mark.parametrize("how", ["header", "bearer", "query"])
def test_token_accepted_three_ways(secured, how):
    headers, path = {}, "/api/agents"
    if how == "header":
        headers["X-Agent-Relay-Token"] = "s3cret"
    elif how == "bearer":
        headers["Authorization"] = "Bearer s3cret"
    else:
        path += "?token=s3cret"
    assert secured.get(path, headers=headers).status_code == 200


@pytest.mark.parametrize("token", ["wrong", "s3cre", "s3cret ", "ß3cret"])
def test_wrong_token_is_401(secured, token):
    r = secured.get("/api/agents", headers={"X-Agent-Relay-Token": token})
    assert r.status_code == 401


def test_health_and_spec_open_without_token(secured):
    assert secured.get("/api/health").status_code == 200
    assert secured.get("/api/spec").status_code == 200


def test_writes_need_the_token_too(secured):
    r = secured.post("/api/agents", json={"id": "a"})
    assert r.status_code == 401
    r = secured.post("/api/agents", json={"id": "a"}, headers={"Authorization": "bearer s3cret"})
    assert r.status_code == 201


def test_one_keep_alive_connection_carries_every_kind_of_answer(live):
    """The server sends each answer's headers with its first body bytes; answers
    without a body (HEAD), errors and writes follow each other on one connection."""
    import http.client
    import json as json_
    c = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)

    def ask(method, path, body=None):
        c.request(method, path, body=json_.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        return r.status, r.getheader("Content-Length"), r.read()

    status, length, body = ask("HEAD", "/api/health")
    assert (status, body) == (200, b"") and int(length) > 0
    assert ask("GET", "/api/nope")[0] == 404
    assert ask("POST", "/api/agents", {"id": "k"})[0] == 201
    status, length, body = ask("POST", "/api/messages", {"from": "z", "to": "k", "body": "hi"})
    assert status == 201 and int(length) == len(body) and json_.loads(body)["body"] == "hi"
    assert ask("POST", "/api/messages", {"from": "z"})[0] == 400
    status, _, body = ask("GET", "/api/messages?for=k")
    assert status == 200 and [m["body"] for m in json_.loads(body)] == ["hi"]
    c.close()


def test_spec_declares_security_as_the_server_enforces_it(client, secured):
    open_spec = client.get("/api/spec").get_json()
    assert "security" not in open_spec and "securitySchemes" not in open_spec["components"]
    assert all("401" not in op["responses"] for ops in open_spec["paths"].values()
               for op in ops.values())
    spec = secured.get("/api/spec").get_json()
    assert spec["security"] == [{"header": []}, {"bearer": []}, {"query": []}]
    assert spec["paths"]["/api/health"]["get"]["security"] == []
    assert spec["paths"]["/api/spec"]["get"]["security"] == []
    assert "401" in spec["paths"]["/api/agents"]["get"]["responses"]
    assert "WWW-Authenticate" in spec["paths"]["/api/agents"]["get"]["responses"]["401"]["headers"]


def test_spec_query_parameters_carry_the_real_rules(client):
    spec = client.get("/api/spec").get_json()
    params = {p["name"]: p for p in spec["paths"]["/api/messages"]["get"]["parameters"]}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500,
                                         "default": 100}
    assert params["wait"]["schema"]["maximum"] == 60
    assert params["kind"]["schema"]["enum"][0] == "chat"
    assert params["for"]["schema"]["pattern"] == "^[A-Za-z0-9._:@+-]{1,240}$"
    message = spec["components"]["schemas"]["Message"]
    assert message["properties"]["subject"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert "subject" in message["required"]

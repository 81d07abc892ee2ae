"""Cross-site requests (README "Configuration"): a foreign Origin is 403 (the
WebSocket handshake too), a foreign Host is 421, a form or text body on a
write is 415; curl (no Origin, empty body) and the same origin stay fine."""
import socket

import pytest
from simple_websocket import Client, ConnectionError as Refused

EVIL = {"Origin": "http://evil.example"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def make(app_factory):
    return lambda **settings: app_factory(**settings)[0]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/system/reap", ""),
    ("POST", "/api/system/broadcast", "body=hi"),
    ("POST", "/api/agents/a/actions", "action=restart"),
    ("POST", "/api/automations/a1/run", ""),
    ("PUT", "/api/config/x/y", "value=1"),
])
def test_a_cross_origin_form_post_is_refused(client, method, path, body):
    r = client.open(path, method=method, data=body, content_type=FORM, headers=EVIL)
    assert (r.status_code, r.get_json()) == (403, {
        "error": "Origin 'http://evil.example' is not this relay's own and not in "
                 "RELAY_ALLOWED_ORIGINS"})
    # Without an Origin (a form from a page that hid it) the body type still refuses it.
    r = client.open(path, method=method, data=body, content_type=FORM)
    assert (r.status_code, r.get_json()) == (415, {
        "error": "Content-Type must be application/json"})
    r = client.open(path, method=method, data=body or "x", content_type="text/plain")
    assert r.status_code == 415


def test_an_empty_body_without_a_type_and_the_same_origin_stay_fine(client):
    assert client.post("/api/system/reap").status_code == 200
    r = client.post("/api/system/reap", headers={"Origin": "http://localhost"})
    assert r.status_code == 200
    r = client.post("/api/agents", json={"id": "a"}, headers={"Origin": "http://localhost"})
    assert r.status_code == 201


def test_a_get_from_a_foreign_origin_is_refused_too(client):
    r = client.get("/api/messages?for=a", headers=EVIL)
    assert r.status_code == 403
    assert client.get("/api/messages?for=a", headers={"Origin": "null"}).status_code == 403


def test_listed_origins_are_allowed(make):
    client = make(allowed_origins="http://evil.example, https://ops.example:8443/")
    assert client.post("/api/agents", json={"id": "a"}, headers=EVIL).status_code == 201
    r = client.get("/api/agents", headers={"Origin": "https://ops.example:8443"})
    assert r.status_code == 200
    assert client.get("/api/agents", headers={"Origin": "https://ops.example"}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4850", "10.0.0.5",
                                  "localhost.evil.example"])
def test_a_foreign_host_is_421(client, host):
    r = client.get("/api/agents", headers={"Host": host})
    assert r.status_code == 421
    assert r.get_json()["error"].startswith(f"Host {host!r} is not a name this relay serves")
    assert client.get("/", headers={"Host": host}).status_code == 421


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:4850", "[::1]:4850", "127.0.0.2",
                                  "app.localhost:4850", "LOCALHOST"])
def test_loopback_hosts_are_served(client, host):
    assert client.get("/api/agents", headers={"Host": host}).status_code == 200


def test_listed_and_bound_hosts_are_served(make):
    client = make(allowed_hosts="relay.example", host="10.1.2.3", token="t")
    for host in ("relay.example", "relay.example:443", "10.1.2.3:4850"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200
    assert client.get("/api/health", headers={"Host": "other.example"}).status_code == 421


def test_a_cross_origin_websocket_is_refused(live):
    url = f"ws://127.0.0.1:{live.port}/api/ws"
    with pytest.raises(Refused, match="403"):
        Client.connect(url, headers={"Origin": "http://evil.example"})
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.sendall(b"GET /api/ws HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 421 ")
    # simple-websocket's Host carries no port, so its own origin is this:
    ws = Client.connect(url, headers={"Origin": "http://127.0.0.1"})
    ws.close()

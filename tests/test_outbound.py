"""Outbound requests (README "Configuration"): where callbacks and orchestrator
proxies may connect, checked when a URL is set and again on the resolved
address when connecting."""
import socket

import pytest

from relay.server import create_app
from relay.server.settings import ConfigError, Settings

from .receiver import Receiver
from .test_callbacks import closed_port, deliveries


@pytest.fixture
def make(app_factory):
    return app_factory


def integration_token(client, scopes=("tasks:write",)) -> dict:
    r = client.post("/api/integrations", json={"name": "ci", "scopes": list(scopes)})
    assert r.status_code == 201, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


@pytest.mark.parametrize("url, kind", [
    ("http://10.1.2.3/hook", "a private"), ("http://192.168.0.1:8080/", "a private"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local"),
    ("http://0.0.0.0:4850/", "an unspecified")])
def test_special_addresses_are_refused_when_set(make, url, kind):
    client, _ = make()
    r = client.post("/api/tasks", json={"title": "t", "callbackUrl": url})
    assert r.status_code == 400
    assert kind + " address not listed in RELAY_OUTBOUND_ALLOW" in r.get_json()["error"]
    assert r.get_json()["error"].startswith("callbackUrl is refused: ")
    r = client.post("/api/orchestrators", json={"id": "h1", "apiUrl": url})
    assert r.status_code == 400 and r.get_json()["error"].startswith("apiUrl is refused: ")


def test_listed_ranges_and_hosts_are_allowed(make):
    client, _ = make(outbound_allow="169.254.0.0/16, 10.0.0.0/8,hooks.internal")
    for url in ("http://169.254.169.254/x", "http://10.1.2.3/hook"):
        assert client.post("/api/tasks", json={"title": "t", "callbackUrl": url}
                           ).status_code == 201
    assert client.post("/api/orchestrators", json={"id": "h1", "apiUrl": "http://10.0.0.9:1"}
                       ).status_code == 201


def test_loopback_is_for_the_relay_tokens_holder_not_an_integration(make):
    client, _ = make()
    hook = f"http://127.0.0.1:{closed_port()}/hook"
    assert client.post("/api/tasks", json={"title": "t", "callbackUrl": hook}).status_code == 201
    headers = integration_token(client)
    for url in (hook, "http://2130706433/hook", "http://127.1/"):
        r = client.post("/api/tasks", json={"title": "t", "callbackUrl": url}, headers=headers)
        assert r.status_code == 400, url
        assert "a loopback address: only a URL set with the relay token" in r.get_json()["error"]


def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(make, clock):
    client, relay_ = make()
    headers = integration_token(client)
    receiver = Receiver()
    try:
        url = receiver.url.replace("127.0.0.1", "localhost")
        r = client.post("/api/tasks", json={"title": "t", "callbackUrl": url}, headers=headers)
        assert r.status_code == 201             # a name: checked when connecting
        task = r.get_json()
        client.post(f"/api/tasks/{task['id']}/status", json={"status": "resolved"},
                    headers=headers)
        assert relay_.callbacks.run_once() == 1
        [d] = deliveries(client, task["id"])
        assert (d["status"], d["attempts"], d["responseStatus"]) == ("failed", 1, None)
        assert d["lastError"].startswith("refused: localhost is ")
        assert "a loopback address" in d["lastError"]
        assert receiver.nothing_more()
    finally:
        receiver.close()


def test_a_listed_name_that_resolves_to_loopback_is_reached(make):
    client, relay_ = make(outbound_allow="localhost")
    headers = integration_token(client)
    receiver = Receiver()
    try:
        url = receiver.url.replace("127.0.0.1", "localhost")
        task = client.post("/api/tasks", json={"title": "t", "callbackUrl": url},
                           headers=headers).get_json()
        client.post(f"/api/tasks/{task['id']}/status", json={"status": "resolved"},
                    headers=headers)
        relay_.callbacks.run_once()
        assert receiver.take()["json"]["task"]["id"] == task["id"]
        assert deliveries(client, task["id"])[0]["status"] == "delivered"
    finally:
        receiver.close()


def test_a_proxy_to_a_name_that_resolves_to_a_private_address_is_403(make, monkeypatch):
    client, _ = make()
    assert client.post("/api/orchestrators", json={
        "id": "h1", "apiUrl": "http://orchestrator.example:7000"}).status_code == 201
    real = socket.getaddrinfo
    connected = []

    def resolve(host, *args, **kwargs):
        if host == "orchestrator.example":          # what a rebinding DNS answers now
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", args[0]))]
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", lambda *a: connected.append(a))
    r = client.get("/api/orchestrators/h1/version")
    assert (r.status_code, r.get_json()) == (403, {
        "error": "orchestrator h1 apiUrl is refused: orchestrator.example is 10.0.0.7, a "
                 "private address not listed in RELAY_OUTBOUND_ALLOW"})
    assert connected == []


def test_a_bad_allow_list_is_refused_at_start(db_path):
    with pytest.raises(ConfigError, match="RELAY_OUTBOUND_ALLOW"):
        create_app(Settings(db=db_path, outbound_allow="10.0.0.0/8,not a host"))

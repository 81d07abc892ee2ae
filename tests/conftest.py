import http.client
import json
import threading

import pytest

from relay import create_app
from relay.clock import ManualClock
from relay.config import Settings
from relay.server import Server


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "relay.db")


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def settings(db_path):
    return Settings(db=db_path)


@pytest.fixture
def app(settings, clock):
    app = create_app(settings, clock)
    yield app
    app.extensions["relay"].stop()


@pytest.fixture
def relay_(app):
    return app.extensions["relay"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_factory(db_path, clock):
    """Apps on the test database with settings of the test's choosing: (client, relay)."""
    apps = []

    def build(**settings):
        made = create_app(Settings(db=db_path, **settings), clock)
        apps.append(made)
        return made.test_client(), made.extensions["relay"]
    yield build
    for made in apps:
        made.extensions["relay"].stop()


def register(client, agent_id, **fields):
    response = client.post("/api/agents", json={"id": agent_id, **fields})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def send(client, sender, to, body="hello", **fields):
    response = client.post("/api/messages", json={"from": sender, "to": to, "body": body, **fields})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def inbox(client, agent_id, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.get(f"/api/messages?for={agent_id}&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- a real waitress server on a free port --------------------------------------

class Live:
    """A relay served by waitress in this process, and a small HTTP client for it."""

    def __init__(self, settings, clock=None):
        self.server = Server(settings, clock)
        self.relay = self.server.relay
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = json.dumps(body) if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        raw = response.read()
        if own:
            conn.close()
        return response.status, (json.loads(raw) if raw else None)

    def stop(self):
        self.server.stop()
        self.thread.join(10)


@pytest.fixture
def live(tmp_path):
    # Every test client is on 127.0.0.1: no per-client stream cap unless a test sets one.
    settings = Settings(db=str(tmp_path / "live.db"), port=0, threads=48, keepalive=0.5,
                        reap_interval=3600, max_streams_per_client=0)
    server = Live(settings)
    yield server
    server.stop()


@pytest.fixture
def live_factory(tmp_path):
    servers = []

    def make(**overrides):
        settings = Settings(db=str(tmp_path / f"live{len(servers)}.db"), port=0,
                            reap_interval=3600, **{"max_streams_per_client": 0, **overrides})
        servers.append(Live(settings))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()

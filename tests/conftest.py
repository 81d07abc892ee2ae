import http.client
import json
import threading

import pytest

from relay.server import create_app
from relay.server.clock import ManualClock
from relay.server.settings import Settings
from relay.server.serving import Server

from . import pg

# The route tests (through the Flask test client and a real waitress server)
# run on both engines; the others (pragmas, query plans, the committer, the
# SQLite file itself) on SQLite only.
ROUTE_TESTS = {
    "test_acks", "test_activity", "test_agents", "test_automations", "test_callbacks", "test_channels",
    "test_claims", "test_commands", "test_config", "test_hostile_input", "test_integrations",
    "test_lifecycle", "test_messages", "test_orchestrators", "test_pairs", "test_policies",
    "test_pools", "test_presence", "test_providers", "test_proxies", "test_queued", "test_empty_poll",
    "test_recipes", "test_retention", "test_search", "test_stream_input", "test_streams", "test_system",
    "test_tasks",
    "test_websocket",
}


def pytest_generate_tests(metafunc):
    if ("backend" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in ROUTE_TESTS
            and not metafunc.definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


def pytest_terminal_summary(terminalreporter):
    why = pg.unreachable() if pg._state else None
    if why:
        terminalreporter.write_line(
            f"PostgreSQL SKIPPED: no server reachable at {pg.ADMIN_URL} ({why}); the route tests "
            "ran on SQLite only. Set RELAY_TEST_PG to a server's URL to run them on both.",
            yellow=True, bold=True)


def pytest_sessionfinish(session):
    if pg._state.get("template"):
        pg.finish()


@pytest.fixture
def backend(request):
    """The engine a test runs on: route tests run once on each (ROUTE_TESTS)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_factory(backend, tmp_path):
    """Makes databases of this test's engine: a SQLite file under tmp_path or a
    PostgreSQL database (with the schema) dropped after the test."""
    made = []
    if backend == "postgres":
        why = pg.unreachable()
        if why:
            pytest.skip(f"PostgreSQL not reachable at {pg.ADMIN_URL}: {why}")

    def make(name: str = "relay", empty: bool = False) -> str:
        """`empty`: no schema yet on PostgreSQL (a SQLite file is made empty anyway)."""
        url = pg.create(empty) if backend == "postgres" else str(tmp_path / f"{name}.db")
        made.append(url)
        return url

    yield make
    if backend == "postgres":
        for url in made:
            pg.drop(url)


@pytest.fixture
def db_path(db_factory):
    return db_factory("relay")


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
def live(db_factory):
    # Every test client is on 127.0.0.1: no per-client stream cap unless a test sets one.
    settings = Settings(db=db_factory("live"), port=0, threads=48, keepalive=0.5,
                        reap_interval=3600, max_streams_per_client=0)
    server = Live(settings)
    yield server
    server.stop()


@pytest.fixture
def live_factory(db_factory):
    servers = []

    def make(**overrides):
        settings = Settings(db=db_factory(f"live{len(servers)}"), port=0,
                            reap_interval=3600, **{"max_streams_per_client": 0, **overrides})
        servers.append(Live(settings))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()

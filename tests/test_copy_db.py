"""`relay copy-db`: a populated SQLite relay moved into PostgreSQL reads the same."""
import subprocess
import sys

import pytest

from relay.server import create_app
from relay.server.settings import Settings

from . import pg
from .conftest import register, send

pytestmark = pytest.mark.skipif(pg.unreachable() is not None,
                                reason=f"PostgreSQL not reachable at {pg.ADMIN_URL}")

READS = ["/api/agents", "/api/messages?for=bob", "/api/messages/1", "/api/messages/1/thread",
         "/api/tasks", "/api/tasks/1", "/api/pools", "/api/activity",
         "/api/events/recent?since=0&limit=500", "/api/config/team/lead",
         "/api/config/team/lead/history", "/api/messages/cursor", "/api/stats"]


def populate(client):
    register(client, "alice", tags=["crew"])
    register(client, "bob", tags=["crew"], label="reviewer")
    first = send(client, "alice", "bob", "hello", claimable=True)
    send(client, "alice", "bob", "again", replyTo=first["id"], idempotencyKey="k")
    send(client, "bob", "tag:crew", "to the crew")
    client.post(f"/api/messages/{first['id']}/claim", json={"agentId": "bob"})
    client.post("/api/messages/read", json={"agentId": "bob", "ids": [first["id"]]})
    assert client.put("/api/pools/crew", json={"selector": {"tags": ["crew"]}}).status_code == 201
    send(client, "alice", "pool:crew", "picked")
    task = client.post("/api/tasks", json={"title": "fix it", "dedupeKey": "d1"}).get_json()
    client.post(f"/api/tasks/{task['id']}/claim", json={"agentId": "bob"})
    client.put("/api/config/team/lead", json={"value": {"who": "alice"}})
    client.put("/api/config/team/lead", json={"value": {"who": "bob"}, "expectedVersion": 1})


def reads(client):
    return {path: (r.status_code, r.get_json()) for path in READS
            for r in [client.get(path)]}


def test_copy_db_moves_every_resource(tmp_path, clock):
    source = str(tmp_path / "relay.db")
    app = create_app(Settings(db=source), clock)
    populate(app.test_client())
    before = reads(app.test_client())
    app.extensions["relay"].stop()
    assert {p: s for p, (s, _) in before.items() if s != 200} == {}
    target = pg.create()
    try:
        done = subprocess.run([sys.executable, "-m", "relay", "copy-db", "--from", source,
                               "--to", target], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "messages: 4" in done.stdout
        # The counts per kind are copied as they are: exact, like the rows they count.
        assert "message_counts: 1" in done.stdout
        moved = create_app(Settings(db=target), clock)
        try:
            client = moved.test_client()
            assert reads(client) == before
            # Ids go on after the copied ones.
            assert send(client, "alice", "bob", "after the move")["id"] == 5
            again = subprocess.run([sys.executable, "-m", "relay", "copy-db", "--from", source,
                                    "--to", target], capture_output=True, text=True, timeout=120)
            assert again.returncode == 1 and "already holds data" in again.stderr
        finally:
            moved.extensions["relay"].stop()
    finally:
        pg.drop(target)

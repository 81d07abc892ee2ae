"""Health, spec, stats, broadcast."""
import re
from concurrent.futures import ThreadPoolExecutor

from .conftest import inbox, register, send


def test_health(client, settings, backend):
    register(client, "a")
    register(client, "b", status="offline")
    send(client, "a", "b")
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok"
    assert health["version"] == "0.1.0"
    assert health["uptimeSeconds"] == 0
    if backend == "sqlite":
        assert health["db"]["ok"] is True and health["db"]["path"].endswith("relay.db")
        assert health["db"]["sizeBytes"] > 0 and health["db"]["walBytes"] > 0
    else:       # the URL without a password; the database's size
        assert health["db"] == {"ok": True, "path": settings.db,
                                "sizeBytes": health["db"]["sizeBytes"]}
        assert health["db"]["sizeBytes"] > 1_000_000
    assert health["streams"] == {"sse": 0, "ws": 0, "poll": 0, "max": 88}
    assert health["counts"] == {"agentsOnline": 1, "messages": 1, "queued": 0, "openTasks": 0}
    assert health["lastReapAt"] is None
    assert health["tables"]["messages"] == {"rows": 1, "oldestAgeSeconds": 0}
    assert health["tables"]["tasks"] == {"rows": 0, "oldestAgeSeconds": None}


def test_health_is_503_when_database_unreadable(client, relay_, monkeypatch):
    from relay.server import db

    def broken(conn, *_):
        raise db.dialect_of(relay_.settings.db).Error("the database cannot be read")
    monkeypatch.setattr("relay.server.store.system.health_counts", broken)
    r = client.get("/api/health")
    assert r.status_code == 503
    assert r.get_json()["status"] == "degraded" and r.get_json()["db"]["ok"] is False


def test_stats(client):
    register(client, "a")
    register(client, "b", status="busy")
    send(client, "a", "b")
    send(client, "a", "b", kind="control")
    send(client, "b", "a")
    assert client.get("/api/stats").get_json() == {
        "messages": {"total": 3, "byKind": {"chat": 2, "control": 1}},
        "agents": {"total": 2, "byStatus": {"busy": 1, "online": 1}},
        "tasks": {"total": 0, "byStatus": {}},
        "queued": 0,
        "orchestrators": {"total": 0, "byStatus": {}},
        "commands": {"total": 0, "byStatus": {}},
        "spawnPolicies": {"total": 0, "byStatus": {}},
    }


def test_system_broadcast(client):
    register(client, "a")
    register(client, "b")
    r = client.post("/api/system/broadcast", json={"body": "maintenance at 5", "subject": "ops"})
    assert r.status_code == 201
    m = r.get_json()
    assert (m["from"], m["to"], m["kind"], m["subject"]) == ("system", "broadcast", "system", "ops")
    assert [x["id"] for x in inbox(client, "a")] == [m["id"]]
    assert [x["id"] for x in inbox(client, "b")] == [m["id"]]
    types = [e["type"] for e in client.get("/api/events/recent").get_json()][-2:]
    assert types == ["message.new", "system.broadcast"]
    assert client.post("/api/system/broadcast", json={}).get_json() == {"error": "body is required"}


def spec_routes(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def test_spec_matches_the_url_map_both_ways(client, app):
    spec = client.get("/api/spec").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = spec_routes(app)
    assert served - documented == set(), "routes missing from the spec"
    assert documented - served == set(), "spec documents routes that do not exist"


def test_spec_operations_are_complete(client):
    spec = client.get("/api/spec").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"])


def test_health_shows_a_postgres_url_without_its_password():
    from relay.server import db
    assert (db.url_shown("postgresql://relay:s3cret@db.internal:5433/relay?sslmode=require")
            == "postgresql://relay@db.internal:5433/relay?sslmode=require")
    assert db.url_shown("postgres://db.internal/relay") == "postgres://db.internal/relay"


def test_stats_count_each_send_and_delete_once(client):
    register(client, "a")
    chats = [send(client, "a", "a", kind="chat") for _ in range(3)]
    control = send(client, "a", "a", kind="control")
    send(client, "a", "a", kind="pair")
    send(client, "a", "a", kind="pair", idempotencyKey="k")
    send(client, "a", "a", kind="pair", idempotencyKey="k")           # the same message again
    assert client.post("/api/messages", json={"from": "a", "to": "nobody", "body": "x",
                                              "kind": "task"}).status_code == 404
    for message in (chats[0], control):
        assert client.delete(f"/api/messages/{message['id']}").status_code == 200
    assert client.delete(f"/api/messages/{control['id']}").status_code == 404
    assert client.get("/api/stats").get_json()["messages"] == {
        "total": 4, "byKind": {"chat": 2, "pair": 2}}


def test_stats_exact_under_concurrent_sends_and_deletes(live):
    """32 threads send and delete at once over real HTTP: every change counted once."""
    assert live.request("POST", "/api/agents", {"id": "a"})[0] == 201
    kinds = ("chat", "control", "task")
    doomed = [live.request("POST", "/api/messages", {"from": "a", "to": "a", "body": "old",
                                                     "kind": kinds[i % 3]})[1]["id"]
              for i in range(12)]

    def change(i):
        if i < len(doomed):
            return live.request("DELETE", f"/api/messages/{doomed[i]}")[0]
        return live.request("POST", "/api/messages", {"from": "a", "to": "a", "body": "new",
                                                      "kind": kinds[i % 2]})[0]
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(change, range(72)))
    assert statuses == [200] * 12 + [201] * 60
    assert live.request("GET", "/api/stats")[1]["messages"] == {
        "total": 60, "byKind": {"chat": 30, "control": 30}}

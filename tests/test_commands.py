"""The command bus: create, poll, the status machine, expiry."""
import re
import threading

import pytest


def create(client, **fields):
    body = {"type": "agent.spawn", "target": "orchestrator-h1", **fields}
    r = client.post("/api/commands", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def patch(client, command_id, status, **fields):
    return client.patch(f"/api/commands/{command_id}", json={"status": status, **fields})


def events(client, prefix="command."):
    return [(e["type"], e["data"].get("status")) for e in
            client.get("/api/events/recent?limit=500").get_json() if e["type"].startswith(prefix)]


def test_create_answers_the_command(client, clock):
    command = create(client, params={"provider": "claude"}, correlationId="sp_1",
                     source="dashboard", ttlSeconds=60)
    assert re.fullmatch(r"cmd_[0-9a-f]{32}", command["id"])
    assert command == {"id": command["id"], "type": "agent.spawn", "source": "dashboard",
                       "target": "orchestrator-h1", "correlationId": "sp_1",
                       "params": {"provider": "claude"}, "status": "pending", "result": None,
                       "error": None, "createdAt": clock(), "updatedAt": clock(),
                       "expiresAt": clock() + 60000}
    assert client.get(f"/api/commands/{command['id']}").get_json() == command
    assert events(client) == [("command.created", "pending")]


def test_defaults(client, clock):
    command = create(client, type="x.deploy")
    assert (command["source"], command["params"], command["expiresAt"]) == (
        "system", {}, clock() + 600000)


@pytest.mark.parametrize("body,error", [
    ({"target": "o"}, "type is required"),
    ({"type": "agent.spawn"}, "target is required"),
    ({"type": "agent.fly", "target": "o"}, "type must be one of agent.spawn, agent.restart, "
     "agent.shutdown, prompt.inject, or x.<name> for a custom type (at most 120 characters)"),
    ({"type": "x.", "target": "o"}, "type must be one of agent.spawn, agent.restart, "
     "agent.shutdown, prompt.inject, or x.<name> for a custom type (at most 120 characters)"),
    ({"type": "x.a", "target": "a/b"}, "target must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"type": "x.a", "target": "o", "params": [1]}, "params must be a JSON object"),
    ({"type": "x.a", "target": "o", "ttlSeconds": 0}, "ttlSeconds must be an integer between 1 "
     "and 604800"),
    ({"type": "x.a", "target": "o", "ttlSeconds": "5"}, "ttlSeconds must be an integer between 1 "
     "and 604800"),
    ({"type": "x.a", "target": "o", "correlationId": "c" * 241}, "correlationId must be at most "
     "240 characters"),
])
def test_bad_create_names_the_field(client, body, error):
    r = client.post("/api/commands", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_list_is_oldest_first_and_filters(client):
    a = create(client)
    b = create(client, type="agent.shutdown", correlationId="c1")
    c = create(client, target="orchestrator-h2")
    patch(client, a["id"], "accepted")
    ids = lambda **q: [x["id"] for x in client.get("/api/commands", query_string=q).get_json()]
    assert ids() == [a["id"], b["id"], c["id"]]
    assert ids(target="orchestrator-h1", status="pending") == [b["id"]]
    assert ids(type="agent.spawn") == [a["id"], c["id"]]
    assert ids(correlationId="c1") == [b["id"]]
    assert ids(limit=2) == [a["id"], b["id"]]
    r = client.get("/api/commands?status=done")
    assert r.status_code == 400
    assert r.get_json()["error"].startswith("status must be one of pending, accepted")
    assert client.get("/api/commands?limit=0").get_json() == {
        "error": "limit must be an integer between 1 and 500"}


def test_status_machine(client, clock):
    command = create(client)
    clock.advance(1)
    r = patch(client, command["id"], "accepted")
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    assert r.get_json()["updatedAt"] == clock()
    r = patch(client, command["id"], "accepted")
    assert (r.status_code, r.get_json()) == (409, {
        "error": f"command {command['id']} is accepted; it cannot become accepted"})
    assert patch(client, command["id"], "running").status_code == 200
    r = patch(client, command["id"], "cancelled")
    assert (r.status_code, r.get_json()) == (409, {
        "error": f"command {command['id']} is running; it cannot become cancelled"})
    r = patch(client, command["id"], "succeeded", result={"sessionName": "s1"})
    assert r.get_json()["result"] == {"sessionName": "s1"}
    r = patch(client, command["id"], "failed", error="late")
    assert (r.status_code, r.get_json()) == (409, {
        "error": f"command {command['id']} is succeeded (a final state); it cannot become failed"})
    assert client.get(f"/api/commands/{command['id']}").get_json()["status"] == "succeeded"
    assert events(client) == [("command.created", "pending"), ("command.updated", "accepted"),
                              ("command.updated", "running"), ("command.updated", "succeeded")]


def test_skipping_ahead_and_cancel(client):
    a, b = create(client), create(client)
    r = patch(client, a["id"], "failed", error="no tmux")
    assert (r.status_code, r.get_json()["error"]) == (200, "no tmux")
    assert patch(client, b["id"], "cancelled").status_code == 200
    assert patch(client, b["id"], "accepted").status_code == 409


@pytest.mark.parametrize("body,error", [
    ({}, "status is required"),
    ({"status": "pending"}, "status must be one of accepted, running, succeeded, failed, cancelled"),
    ({"status": "expired"}, "status must be one of accepted, running, succeeded, failed, cancelled"),
    ({"status": "failed", "result": "x"}, "result must be a JSON object"),
    ({"status": "failed", "error": 5}, "error must be a string"),
])
def test_bad_patch_names_the_field(client, body, error):
    command = create(client)
    r = client.patch(f"/api/commands/{command['id']}", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_unknown_command_is_404(client):
    assert client.get("/api/commands/cmd_nope").status_code == 404
    r = patch(client, "cmd_nope", "accepted")
    assert (r.status_code, r.get_json()) == (404, {"error": "command cmd_nope not found"})
    assert client.delete("/api/commands/cmd_nope").status_code == 404


def test_patch_over_64_kib_is_413(client):
    command = create(client)
    big = {"status": "succeeded", "result": {"log": "x" * 65536}}
    r = client.patch(f"/api/commands/{command['id']}", json=big)
    assert (r.status_code, r.get_json()) == (413, {"error": "request body is larger than 65536 bytes"})
    assert client.get(f"/api/commands/{command['id']}").get_json()["status"] == "pending"
    fits = {"status": "succeeded", "result": {"log": "x" * 60000}}
    assert client.patch(f"/api/commands/{command['id']}", json=fits).status_code == 200


def test_delete(client):
    command = create(client)
    assert client.delete(f"/api/commands/{command['id']}").get_json() == {"ok": True}
    assert client.get(f"/api/commands/{command['id']}").status_code == 404


def test_reaper_expires_pending_commands_only(client, clock):
    pending = create(client, ttlSeconds=60)
    accepted = create(client, ttlSeconds=60)
    later = create(client, ttlSeconds=120)
    patch(client, accepted["id"], "accepted")
    clock.advance(59)
    assert client.post("/api/system/reap").get_json()["expiredCommandIds"] == []
    clock.advance(1)
    assert client.post("/api/system/reap").get_json()["expiredCommandIds"] == [pending["id"]]
    got = client.get(f"/api/commands/{pending['id']}").get_json()
    assert (got["status"], got["error"]) == ("expired", "expired before it was accepted")
    assert client.get(f"/api/commands/{later['id']}").get_json()["status"] == "pending"
    assert patch(client, pending["id"], "accepted").status_code == 409
    assert events(client)[-1] == ("command.updated", "expired")


def test_thirty_concurrent_patches_move_each_state_exactly_once(live):
    status, command = live.request("POST", "/api/commands",
                                   {"type": "agent.spawn", "target": "orchestrator-h1"})
    assert status == 201
    for target in ("accepted", "running", "succeeded"):
        barrier, results = threading.Barrier(30), []

        def go():
            barrier.wait()
            results.append(live.request("PATCH", f"/api/commands/{command['id']}",
                                        {"status": target})[0])
        threads = [threading.Thread(target=go) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200] + [409] * 29, target
    _, events_ = live.request("GET", "/api/events/recent?limit=500")
    assert [e["data"]["status"] for e in events_ if e["type"] == "command.updated"] == [
        "accepted", "running", "succeeded"]

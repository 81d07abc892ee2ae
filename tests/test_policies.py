"""The spawn-policy routes and what command results do to a policy's state."""
import pytest

from .conftest import register

POLICY = {"orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app/repo"}


def orchestrator(client, **fields):
    body = {"id": "h1", "providers": ["claude"], "baseDir": "/srv/app", **fields}
    assert client.post("/api/orchestrators", json=body).status_code in (200, 201)


def put(client, name="reviewer", status=201, **fields):
    r = client.put(f"/api/spawn-policy/{name}", json={**POLICY, **fields})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def state(client, name="reviewer"):
    return client.get(f"/api/spawn-policy/{name}/status").get_json()["state"]


def test_put_fills_defaults_bare_or_wrapped(client, clock):
    entry = put(client, updatedBy="ann")
    assert (entry["namespace"], entry["key"], entry["version"], entry["updatedBy"]) == (
        "spawn-policy", "reviewer", 1, "ann")
    assert entry["value"] == {
        **POLICY, "name": "reviewer", "tags": [], "capabilities": [], "permissionMode": "guarded",
        "providerArgs": [], "mode": "manual", "enabled": True,
        "restart": {"maxPerDay": 10, "backoffSeconds": 5, "maxBackoffSeconds": 300},
        "startTimeoutSeconds": 120, "idleStopSeconds": 900, "queue": {"maxAgeSeconds": 86400}}
    r = client.put("/api/spawn-policy/reviewer", json={"value": {**POLICY, "mode": "always",
                                                                 "name": "other"},
                                                       "updatedBy": "bob", "expectedVersion": 1})
    assert r.status_code == 200
    assert (r.get_json()["value"]["mode"], r.get_json()["value"]["name"],
            r.get_json()["updatedBy"]) == ("always", "reviewer", "bob")
    assert client.get("/api/spawn-policy/reviewer").get_json() == r.get_json()
    r = client.put("/api/spawn-policy/reviewer", json={**POLICY, "expectedVersion": 1})
    assert r.status_code == 409
    assert client.get("/api/config/spawn-policy").get_json()[0]["version"] == 2


@pytest.mark.parametrize("body,error", [
    ({"value": "x"}, "value must be a JSON object"),
    ({"provider": "claude", "cwd": "/"}, "orchestratorId is required"),
    ({**POLICY, "provider": "GPT"}, "provider must be a provider "
     "name: a lower-case letter, then at most 63 lower-case letters, digits or -"),
    ({**POLICY, "permissionMode": "yolo"}, "permissionMode must be one of open, guarded, read-only"),
    ({**POLICY, "enabled": "yes"}, "enabled must be true or false"),
    ({**POLICY, "restart": {"maxPerDay": 0}}, "restart.maxPerDay must be an integer between 1 "
     "and 1000"),
    ({**POLICY, "queue": {"maxAgeSeconds": 1.5}}, "queue.maxAgeSeconds must be an integer "
     "between 0 and 2592000"),
    ({**POLICY, "startTimeoutSeconds": 0}, "startTimeoutSeconds must be an integer between 1 "
     "and 86400"),
    ({"value": {**POLICY, "idleStopSeconds": -1}}, "idleStopSeconds must be an integer between "
     "1 and 2592000"),
    ({**POLICY, "updatedBy": 3}, "updatedBy must be a string"),
])
def test_bad_policy_names_the_field(client, body, error):
    r = client.put("/api/spawn-policy/p", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_list_and_status_of_a_never_started_policy(client):
    put(client, "b-policy")
    put(client, "a-policy", provider="codex")
    listing = client.get("/api/spawn-policies").get_json()
    assert [p["policy"]["name"] for p in listing] == ["a-policy", "b-policy"]
    assert listing[0]["state"] == {
        "policyName": "a-policy", "status": "stopped", "agentId": None, "orchestratorId": "h1",
        "provider": "codex", "tmuxSession": None, "spawnRequestId": None, "lastSpawnAt": None,
        "lastStopAt": None, "healthySince": None, "restartCount": 0, "restartsToday": 0,
        "consecutiveFailures": 0, "nextAttemptAt": None, "lastError": None, "updatedAt": 0}
    assert client.get("/api/spawn-policies/health").get_json() == listing
    assert client.get("/api/spawn-policy/a-policy/health").get_json() == listing[0]
    for path in ("", "/status", "/health"):
        assert client.get(f"/api/spawn-policy/none{path}").status_code == 404
    for action in ("start", "stop", "restart"):
        assert client.post(f"/api/spawn-policy/none/{action}").status_code == 404


def test_start_needs_an_online_orchestrator(client, clock):
    put(client)
    r = client.post("/api/spawn-policy/reviewer/start")
    assert (r.status_code, r.get_json()) == (404, {"error": "orchestrator h1 not found"})
    orchestrator(client)
    clock.advance(301)
    client.post("/api/system/reap")
    r = client.post("/api/spawn-policy/reviewer/start")
    assert (r.status_code, r.get_json()) == (409, {"error": "orchestrator h1 is offline, not online"})
    assert state(client)["status"] == "stopped"


def test_start_refuses_a_cwd_outside_base_dir(client):
    orchestrator(client)
    put(client, cwd="/srv/app-evil")
    r = client.post("/api/spawn-policy/reviewer/start")
    assert r.status_code == 409
    assert r.get_json()["error"].startswith("spawn policy reviewer cannot start: cwd must be inside")


def test_start_stop_restart_and_command_results(client, clock):
    orchestrator(client)
    put(client, tags=["review"], prompt="review PRs", mode="manual")
    r = client.post("/api/spawn-policy/reviewer/start")
    assert r.status_code == 202 and r.get_json()["ok"] is True
    command = r.get_json()["command"]
    request_id = command["params"]["spawnRequestId"]
    assert (command["type"], command["target"], command["correlationId"]) == (
        "agent.spawn", "orchestrator-h1", request_id)
    assert {k: command["params"][k] for k in ("provider", "cwd", "tags", "prompt", "policyName",
                                               "headless", "reason", "permissionMode")} == {
        "provider": "claude", "cwd": "/srv/app/repo", "tags": ["review"], "prompt": "review PRs",
        "policyName": "reviewer", "headless": True, "reason": "manual-start",
        "permissionMode": "guarded"}
    s = state(client)
    assert (s["status"], s["spawnRequestId"], s["lastSpawnAt"], s["restartsToday"]) == (
        "starting", request_id, clock(), 1)
    assert client.post("/api/spawn-policy/reviewer/start").get_json() == {
        "error": "spawn policy reviewer is already starting"}
    client.patch(f"/api/commands/{command['id']}", json={"status": "succeeded",
                                                         "result": {"tmuxSession": "relay-rev"}})
    assert (state(client)["status"], state(client)["tmuxSession"]) == ("starting", "relay-rev")
    register(client, "rev-1", meta={"policyName": "reviewer", "spawnRequestId": request_id,
                                    "orchestratorId": "h1"})
    assert (state(client)["status"], state(client)["agentId"]) == ("running", "rev-1")

    r = client.post("/api/spawn-policy/reviewer/restart")
    restart = r.get_json()["command"]
    assert (r.status_code, restart["type"], restart["params"]["agentId"],
            restart["params"]["tmuxSession"], restart["params"]["spawnRequestId"]) == (
        202, "agent.restart", "rev-1", "relay-rev", request_id)
    assert (state(client)["status"], state(client)["restartCount"]) == ("starting", 1)
    register(client, "rev-1", meta={"policyName": "reviewer", "spawnRequestId": request_id,
                                    "orchestratorId": "h1"}, instanceId="new-process")
    assert state(client)["status"] == "running"

    stop = client.post("/api/spawn-policy/reviewer/stop").get_json()["command"]
    assert (stop["type"], stop["params"]["reason"]) == ("agent.shutdown", "manual-stop")
    assert (state(client)["status"], state(client)["lastStopAt"]) == ("stopping", clock())
    client.patch(f"/api/commands/{stop['id']}", json={"status": "succeeded"})
    assert state(client)["status"] == "stopped"
    changes = [e["data"]["status"] for e in client.get("/api/events/recent?limit=500").get_json()
               if e["type"] == "policy.state.changed"]
    assert changes == ["starting", "starting", "running", "starting", "running", "stopping",
                       "stopped"]
    titles = [a["title"] for a in client.get("/api/activity?kind=state").get_json()]
    assert titles[:3] == ["policy reviewer: stopped", "policy reviewer: stopping (manual-stop)",
                          "policy reviewer: running as rev-1"]


def test_a_failed_spawn_command_is_a_failure(client, clock):
    orchestrator(client)
    put(client, mode="always")
    command = client.post("/api/spawn-policy/reviewer/start").get_json()["command"]
    client.patch(f"/api/commands/{command['id']}", json={"status": "failed", "error": "no tmux"})
    s = state(client)
    assert (s["status"], s["consecutiveFailures"], s["lastError"], s["nextAttemptAt"]) == (
        "backoff", 1, "no tmux", clock() + 5000)


def test_an_old_requests_result_does_not_move_the_state(client):
    orchestrator(client)
    put(client)
    old = client.post("/api/spawn-policy/reviewer/start").get_json()["command"]
    client.patch(f"/api/commands/{old['id']}", json={"status": "failed"})
    assert state(client)["status"] == "failed"            # manual: nothing would retry it
    client.post("/api/spawn-policy/reviewer/start")
    assert state(client)["status"] == "starting"
    stray = client.post("/api/commands", json={"type": "agent.spawn", "target": "orchestrator-h1",
                                               "params": {"policyName": "reviewer",
                                                          "spawnRequestId": "sp_other"}}).get_json()
    client.patch(f"/api/commands/{stray['id']}", json={"status": "failed"})
    assert state(client)["status"] == "starting"


def test_delete_stops_the_agent(client):
    orchestrator(client)
    put(client)
    assert client.delete("/api/spawn-policy/reviewer").get_json() == {"ok": True, "command": None}
    put(client)
    start = client.post("/api/spawn-policy/reviewer/start").get_json()["command"]
    r = client.delete("/api/spawn-policy/reviewer?updatedBy=ann")
    assert r.status_code == 202
    command = r.get_json()["command"]
    assert (command["type"], command["params"]["reason"], command["params"]["spawnRequestId"]) == (
        "agent.shutdown", "policy-deleted", start["params"]["spawnRequestId"])
    assert client.get("/api/spawn-policy/reviewer").status_code == 404
    assert client.get("/api/spawn-policies").get_json() == []
    assert client.get("/api/config/spawn-policy/reviewer/history").get_json()[0][
        "action"] == "delete"
    assert client.delete("/api/spawn-policy/reviewer").status_code == 404


def test_stats_and_health_count_what_keeps_agents(client):
    orchestrator(client)
    client.post("/api/orchestrators", json={"id": "h2"})
    put(client)
    put(client, "idle")
    client.post("/api/spawn-policy/reviewer/start")
    client.post("/api/messages", json={"from": "ann", "to": "policy:idle", "body": "wait"})
    stats = client.get("/api/stats").get_json()
    assert (stats["orchestrators"], stats["commands"], stats["spawnPolicies"], stats["queued"]) == (
        {"total": 2, "byStatus": {"online": 2}}, {"total": 1, "byStatus": {"pending": 1}},
        {"total": 1, "byStatus": {"starting": 1}}, 1)
    assert client.get("/api/health").get_json()["counts"]["queued"] == 1


def test_a_bare_policy_wins_over_a_value_beside_it(client):
    entry = put(client, value={"orchestratorId": "other"})
    assert entry["value"]["orchestratorId"] == "h1"

"""Orchestrators, their presence, and spawn/actions as commands."""
import os

import pytest

from .conftest import inbox, register, send


def add(client, orchestrator_id="h1", status=None, **fields):
    body = {"id": orchestrator_id, "hostname": "host-a", "providers": ["claude", "codex"],
            "baseDir": "/srv/app", "apiUrl": "http://127.0.0.1:9", "version": "1.2",
            **fields}
    r = client.post("/api/orchestrators", json=body)
    if status:
        assert r.status_code == status, r.get_json()
    return r.get_json()


def types(client, prefix):
    return [e["type"] for e in client.get("/api/events/recent?limit=500").get_json()
            if e["type"].startswith(prefix)]


def test_register_upserts_it_and_its_agent(client, clock):
    orch = add(client, status=201)
    assert orch == {"id": "h1", "hostname": "host-a", "agentId": "orchestrator-h1",
                    "providers": ["claude", "codex"], "baseDir": "/srv/app",
                    "apiUrl": "http://127.0.0.1:9", "version": "1.2", "capabilities": [],
                    "status": "online", "managedAgents": [], "meta": {},
                    "lastHeartbeat": clock(), "createdAt": clock()}
    agent = client.get("/api/agents/orchestrator-h1").get_json()
    assert (agent["kind"], agent["name"], agent["machine"]) == ("orchestrator", "host-a", "host-a")
    clock.advance(5)
    again = client.post("/api/orchestrators", json={"id": "h1", "version": "1.3"})
    assert again.status_code == 200
    assert (again.get_json()["version"], again.get_json()["baseDir"]) == ("1.3", "/srv/app")
    assert again.get_json()["createdAt"] == clock() - 5000
    other = add(client, "h2", agentId="boss", status=201)
    assert other["agentId"] == "boss" and client.get("/api/agents/boss").status_code == 200
    assert [o["id"] for o in client.get("/api/orchestrators").get_json()] == ["h1", "h2"]
    assert client.get("/api/orchestrators/h2").get_json() == other
    assert client.get("/api/orchestrators/nope").status_code == 404
    assert types(client, "orchestrator.") == ["orchestrator.status"] * 3


@pytest.mark.parametrize("body,error", [
    ({}, "id is required"),
    ({"id": "a/b"}, "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"id": "h", "apiUrl": "ftp://x.example"}, "apiUrl must be an http:// or https:// URL of at "
     "most 500 characters"),
    ({"id": "h", "apiUrl": "http://"}, "apiUrl must be an http:// or https:// URL of at most 500 "
     "characters"),
    ({"id": "h", "providers": "claude"}, "providers must be a list of at most 100 provider "
     "names (a lower-case letter, then at most 63 lower-case letters, digits or -)"),
    ({"id": "h", "baseDir": 5}, "baseDir must be a string"),
    ({"id": "h", "meta": []}, "meta must be a JSON object"),
])
def test_bad_register_names_the_field(client, body, error):
    r = client.post("/api/orchestrators", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_heartbeat_and_reaper_presence(client, clock):
    add(client)
    assert client.post("/api/orchestrators/nope/heartbeat").status_code == 404
    clock.advance(91)
    report = client.post("/api/system/reap").get_json()
    assert report["staleOrchestratorIds"] == ["h1"] and report["offlineOrchestratorIds"] == []
    assert client.get("/api/orchestrators/h1").get_json()["status"] == "stale"
    clock.advance(210)
    report = client.post("/api/system/reap").get_json()
    assert (report["staleOrchestratorIds"], report["offlineOrchestratorIds"]) == ([], ["h1"])
    beat = client.post("/api/orchestrators/h1/heartbeat").get_json()
    assert (beat["status"], beat["lastHeartbeat"]) == ("online", clock())
    assert client.get("/api/agents/orchestrator-h1").get_json()["status"] == "online"
    client.post("/api/orchestrators/h1/heartbeat")      # no change: no event
    statuses = [e["data"]["status"] for e in client.get("/api/events/recent?limit=500").get_json()
                if e["type"] == "orchestrator.status"]
    assert statuses == ["online", "stale", "offline", "online"]


def test_roster(client):
    add(client)
    roster = [{"sessionName": "s1", "provider": "claude", "status": "running",
               "agentId": "rev-1", "policyName": "reviewer", "pid": 42}]
    r = client.patch("/api/orchestrators/h1/agents", json={"agents": roster})
    assert r.status_code == 200 and r.get_json()["managedAgents"] == roster
    assert client.patch("/api/orchestrators/h1/agents", json={"agents": []}).get_json()[
        "managedAgents"] == []
    r = client.patch("/api/orchestrators/h1/agents", json={"agents": [{"provider": "x"}]})
    assert (r.status_code, r.get_json()) == (400, {"error": "agents[0].sessionName is required"})
    r = client.patch("/api/orchestrators/h1/agents", json={})
    assert r.get_json() == {"error": "agents is required"}
    assert client.patch("/api/orchestrators/no/agents", json={"agents": []}).status_code == 404


def test_orchestrator_address_and_delete(client):
    add(client)
    register(client, "ann")
    message = send(client, "ann", "orchestrator:h1", "status?")
    assert message["resolvedToAgent"] == "orchestrator-h1"
    assert [m["id"] for m in inbox(client, "orchestrator-h1")] == [message["id"]]
    assert client.delete("/api/orchestrators/h1").get_json() == {"ok": True}
    assert client.get("/api/orchestrators/h1").status_code == 404
    assert client.get("/api/agents/orchestrator-h1").status_code == 404
    assert client.delete("/api/orchestrators/h1").status_code == 404
    r = client.post("/api/messages", json={"from": "ann", "to": "orchestrator:h1", "body": "x"})
    assert r.status_code == 404
    removed = [e["data"] for e in client.get("/api/events/recent?limit=500").get_json()
               if e["type"] in ("orchestrator.removed", "agent.removed")]
    assert removed == [{"orchestratorId": "h1"}, {"agentId": "orchestrator-h1"}]


@pytest.fixture
def base(tmp_path):
    """A baseDir with a subdirectory, a sibling sharing its prefix, and a symlink out."""
    app = tmp_path / "srv" / "app"
    (app / "sub").mkdir(parents=True)
    (tmp_path / "srv" / "app-evil").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", app / "link")
    os.symlink(app / "sub", app / "inner")
    return app


def spawn(client, cwd=None, **fields):
    body = {"provider": "claude", **fields}
    if cwd is not None:
        body["cwd"] = cwd
    return client.post("/api/orchestrators/h1/spawn", json=body)


def test_spawn_queues_a_command(client, base, clock):
    add(client, baseDir=str(base))
    r = spawn(client, "sub", label="rev", tags=["t"], prompt="review", policyName="p",
              spawnRequestId="sp_1", approvalMode="open", providerArgs=["--fast"])
    assert r.status_code == 202
    command = r.get_json()["command"]
    assert (command["type"], command["target"], command["correlationId"], command["status"]) == (
        "agent.spawn", "orchestrator-h1", "sp_1", "pending")
    assert command["params"] == {
        "action": "spawn", "provider": "claude", "cwd": str(base / "sub"), "label": "rev",
        "tags": ["t"], "capabilities": [], "approvalMode": "open", "permissionMode": "open",
        "providerArgs": ["--fast"], "prompt": "review", "policyName": "p",
        "spawnRequestId": "sp_1", "orchestratorId": "h1", "requestedBy": "dashboard",
        "requestedAt": clock()}
    polled = client.get("/api/commands?target=orchestrator-h1&status=pending").get_json()
    assert [c["id"] for c in polled] == [command["id"]]
    assert spawn(client).get_json()["command"]["params"]["cwd"] == str(base)
    assert spawn(client, str(base / "inner")).get_json()["command"]["params"]["cwd"] == str(
        base / "sub")
    assert spawn(client, str(base / "sub" / ".." / "sub")).status_code == 202


@pytest.mark.parametrize("cwd", ["..", "../app-evil", "sub/../../app-evil", "SIBLING", "/etc",
                                 "/", "link", "link/deeper", "ABS_LINK"])
def test_spawn_cwd_cannot_escape_base_dir(client, base, cwd):
    add(client, baseDir=str(base))
    cwd = {"SIBLING": str(base) + "-evil", "ABS_LINK": str(base / "link")}.get(cwd, cwd)
    r = spawn(client, cwd)
    assert (r.status_code, r.get_json()) == (400, {
        "error": f"cwd must be inside the orchestrator's baseDir {base} (compared after "
                 "resolving symlinks and ..)"})
    assert client.get("/api/commands").get_json() == []


@pytest.mark.parametrize("body,error", [
    ({}, "provider is required"),
    ({"provider": "claude", "approvalMode": "yolo"},
     "approvalMode must be one of open, guarded, read-only"),
    ({"provider": "claude", "prompt": "p" * 4001}, "prompt must be at most 4000 characters"),
    ({"provider": "claude", "cwd": "/" * 501}, "cwd must be at most 500 characters"),
    ({"provider": "claude", "providerArgs": [1]}, "providerArgs must be a list of at most 100 "
     "strings of at most 500 characters"),
])
def test_bad_spawn_names_the_field(client, body, error):
    add(client)
    r = client.post("/api/orchestrators/h1/spawn", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})


def test_spawn_of_a_provider_not_offered_is_422(client):
    add(client)
    r = client.post("/api/orchestrators/h1/spawn", json={"provider": "gemini"})
    assert (r.status_code, r.get_json()) == (422, {
        "error": "provider must be one the orchestrator offers (claude, codex)"})


def test_spawn_on_unknown_orchestrator_is_404(client):
    assert spawn(client).status_code == 404


def test_orchestrator_actions(client, clock):
    add(client)
    r = client.post("/api/orchestrators/h1/actions", json={
        "action": "restart", "agentId": "rev-1", "policyName": "p", "spawnRequestId": "sp_1",
        "tmuxSession": "relay-rev"})
    assert r.status_code == 202
    command = r.get_json()["command"]
    assert (command["type"], command["target"], command["correlationId"]) == (
        "agent.restart", "orchestrator-h1", "sp_1")
    assert command["params"] == {
        "action": "restart", "agentId": "rev-1", "policyName": "p", "spawnRequestId": "sp_1",
        "tmuxSession": "relay-rev", "reason": "manual", "orchestratorId": "h1",
        "requestedBy": "dashboard", "requestedAt": clock()}
    r = client.post("/api/orchestrators/h1/actions", json={"action": "explode"})
    assert (r.status_code, r.get_json()) == (400, {"error": "action must be one of restart, shutdown"})
    assert client.post("/api/orchestrators/no/actions", json={"action": "shutdown"}).status_code == 404


def test_agent_actions(client):
    add(client)
    register(client, "rev-1", meta={"orchestratorId": "h1", "policyName": "p",
                                    "spawnRequestId": "sp_9", "tmuxSession": "relay-rev"})
    register(client, "loner")
    register(client, "lost", meta={"orchestratorId": "gone"})
    r = client.post("/api/agents/rev-1/actions", json={"action": "shutdown", "reason": "done"})
    assert r.status_code == 202
    command = r.get_json()["command"]
    assert (command["type"], command["target"], command["correlationId"]) == (
        "agent.shutdown", "orchestrator-h1", "sp_9")
    params = command["params"]
    assert (params["agentId"], params["orchestratorId"], params["policyName"],
            params["tmuxSession"], params["reason"]) == ("rev-1", "h1", "p", "relay-rev", "done")
    for agent in ("loner", "lost"):
        r = client.post(f"/api/agents/{agent}/actions", json={"action": "restart"})
        assert (r.status_code, r.get_json()) == (422, {
            "error": f"agent {agent} is not managed by an orchestrator (its meta.orchestratorId "
                     "names none)"})
    assert client.post("/api/agents/nobody/actions", json={"action": "restart"}).status_code == 404
    r = client.post("/api/agents/rev-1/actions", json={"action": "pause"})
    assert r.get_json() == {"error": "action must be one of restart, shutdown"}


@pytest.mark.parametrize("url", ["http://a:99999", "http://:80", "http://a:0"])
def test_api_url_needs_a_host_and_a_port_in_range(client, url):
    r = client.post("/api/orchestrators", json={"id": "h", "apiUrl": url})
    assert (r.status_code, r.get_json()) == (400, {"error": "apiUrl must be an http:// or https:// "
                                                   "URL with a host (and a port within 1-65535)"})


PROVIDER_RULE = ("a provider name: a lower-case letter, then at most 63 lower-case letters, "
                 "digits or -")


@pytest.mark.parametrize("bad", ["Claude", "9x", "my_agent", "-x", "a" * 65, ""])
def test_a_provider_name_is_lower_case_letters_digits_and_dashes(client, bad):
    r = client.post("/api/orchestrators", json={"id": "h1", "providers": ["claude", bad]})
    assert (r.status_code, r.get_json()) == (400, {"error": "providers must be a list of at most "
                                                   f"100 provider names ({PROVIDER_RULE[17:]})"})
    add(client)
    r = client.post("/api/orchestrators/h1/spawn", json={"provider": bad})
    assert (r.status_code, r.get_json()) == (400, {"error": f"provider must be {PROVIDER_RULE}"})
    r = client.put("/api/spawn-policy/p", json={"orchestratorId": "h1", "provider": bad,
                                                  "cwd": "/srv/app"})
    assert (r.status_code, r.get_json()) == (400, {"error": f"provider must be {PROVIDER_RULE}"})


def test_a_custom_provider_the_orchestrator_offers_spawns_and_runs_policies(client):
    add(client, providers=["claude", "my-agent2"])
    r = spawn(client, provider="my-agent2")
    assert r.status_code == 202 and r.get_json()["command"]["params"]["provider"] == "my-agent2"
    r = client.put("/api/spawn-policy/p", json={"orchestratorId": "h1", "provider": "my-agent2",
                                                  "cwd": "/srv/app"})
    assert r.status_code == 201 and r.get_json()["value"]["provider"] == "my-agent2"
    r = client.post("/api/spawn-policy/p/start")
    assert r.status_code == 202 and r.get_json()["command"]["params"]["provider"] == "my-agent2"
    # One it does not offer: refused when it is registered, on both policy routes.
    for put in (lambda b: client.put("/api/spawn-policy/q", json=b),
                lambda b: client.put("/api/config/spawn-policy/q", json={"value": b})):
        r = put({"orchestratorId": "h1", "provider": "codex", "cwd": "/srv/app"})
        assert (r.status_code, r.get_json()) == (422, {
            "error": "provider must be one the orchestrator offers (claude, my-agent2)"})
    assert client.get("/api/spawn-policy/q").status_code == 404
    # An orchestrator not registered yet: the policy is kept, and checked when it starts.
    r = client.put("/api/spawn-policy/q", json={"orchestratorId": "later", "provider": "codex",
                                                  "cwd": "/srv/app"})
    assert r.status_code == 201

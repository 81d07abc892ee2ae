"""Recipes (bundled and RELAY_RECIPES_DIR), starting a team, its instance."""
import json
import logging

import pytest

from relay.server import create_app, db
from relay.server.settings import Settings

BUNDLED = ["code-review", "debug", "feature", "refactor", "test"]
VARS_RULE = ("vars must be an object of at most 50 string values of at most 4000 characters, "
             "named with letters, digits and _ (not starting with a digit, at most 64 characters)")


def add_orchestrator(client, orchestrator_id="h1", **fields):
    body = {"id": orchestrator_id, "hostname": "host-a", "providers": ["claude", "codex"],
            "baseDir": "/srv/app", **fields}
    r = client.post("/api/orchestrators", json=body)
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def start(client, name="code-review", status=202, **body):
    body = {"orchestratorId": "h1", "cwd": "/srv/app/shop", "vars": {"target": "fix-cart"},
            **body}
    r = client.post(f"/api/recipes/{name}/start", json=body)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def finish(client, command_id, status="succeeded", **fields):
    for step in ("accepted", "running"):
        assert client.patch(f"/api/commands/{command_id}", json={"status": step}).status_code == 200
    r = client.patch(f"/api/commands/{command_id}", json={"status": status, **fields})
    assert r.status_code == 200, r.get_json()


def pending(client, kind):
    return [c for c in client.get("/api/commands?target=orchestrator-h1&status=pending")
            .get_json() if c["type"] == kind]


def instance(client, instance_id):
    return client.get(f"/api/recipe-instances/{instance_id}").get_json()


def test_five_bundled_recipes_with_real_prompts(client):
    recipes = client.get("/api/recipes").get_json()
    assert [r["name"] for r in recipes] == BUNDLED
    for recipe in recipes:
        assert recipe["source"] == "bundled" and recipe["description"]
        assert len(recipe["roles"]) >= 2
        for role in recipe["roles"]:
            assert role["provider"] in ("claude", "codex")
            assert len(role["prompt"]) > 500 and "{{cwd}}" in role["prompt"]
    review = client.get("/api/recipes/code-review").get_json()
    assert [r["role"] for r in review["roles"]] == ["reviewer", "security", "tests"]
    assert review["vars"]["target"] is None and review["vars"]["base"] == "main"
    r = client.get("/api/recipes/nope")
    assert (r.status_code, r.get_json()) == (404, {"error": "recipe nope not found"})


def test_start_spawns_one_command_per_role_with_vars_and_follows_results(client, clock):
    add_orchestrator(client)
    started = start(client, vars={"target": "fix-cart", "lead": "ann"})["instance"]
    assert started["status"] == "starting" and started["recipe"] == "code-review"
    assert (started["orchestratorId"], started["cwd"]) == ("h1", "/srv/app/shop")
    assert started["vars"] == {"target": "fix-cart", "lead": "ann"}
    assert started["createdAt"] == clock()
    spawns = pending(client, "agent.spawn")
    assert [c["params"]["role"] for c in spawns] == ["reviewer", "security", "tests"]
    assert [r["commandId"] for r in started["roles"]] == [c["id"] for c in spawns]
    assert [r["status"] for r in started["roles"]] == ["starting"] * 3
    reviewer = spawns[0]["params"]
    assert reviewer["prompt"].startswith("You are the lead code reviewer for fix-cart in "
                                         "/srv/app/shop, compared with main.")
    assert "to ann through the relay" in reviewer["prompt"] and "{{" not in reviewer["prompt"]
    assert {k: reviewer[k] for k in ("provider", "cwd", "label", "approvalMode",
                                     "recipeInstanceId", "orchestratorId", "requestedBy")} == {
        "provider": "claude", "cwd": "/srv/app/shop", "label": "code-review-reviewer",
        "approvalMode": "read-only", "recipeInstanceId": started["id"],
        "orchestratorId": "h1", "requestedBy": "recipe"}
    assert spawns[1]["params"]["provider"] == "codex"
    assert all(c["correlationId"] == c["params"]["spawnRequestId"] and
               c["params"]["spawnRequestId"].startswith("rs_") for c in spawns)
    assert len({c["params"]["spawnRequestId"] for c in spawns}) == 3

    # Command results move each role; the instance runs once every role does.
    finish(client, spawns[0]["id"], result={"tmuxSession": "relay-rev", "agentId": "rev-1"})
    now = instance(client, started["id"])
    assert now["status"] == "starting"
    assert now["roles"][0] == {**started["roles"][0], "status": "running", "agentId": "rev-1",
                               "tmuxSession": "relay-rev", "updatedAt": clock()}
    finish(client, spawns[1]["id"])
    # An agent registering with its role's spawn request also runs the role.
    r = client.post("/api/agents", json={"id": "tests-1", "meta": {
        "spawnRequestId": spawns[2]["params"]["spawnRequestId"], "orchestratorId": "h1"}})
    assert r.status_code == 201
    now = instance(client, started["id"])
    assert now["status"] == "running"
    assert [(x["status"], x["agentId"]) for x in now["roles"]] == [
        ("running", "rev-1"), ("running", None), ("running", "tests-1")]
    finish(client, spawns[2]["id"])           # a late success changes nothing
    assert instance(client, started["id"]) == now

    clock.advance(1)
    r = client.post(f"/api/recipe-instances/{started['id']}/stop")
    assert r.status_code == 202
    stopped = r.get_json()
    assert stopped["instance"]["status"] == "stopping"
    assert [x["status"] for x in stopped["instance"]["roles"]] == ["stopping"] * 3
    shutdowns = pending(client, "agent.shutdown")
    assert [c["id"] for c in stopped["commands"]] == [c["id"] for c in shutdowns]
    assert [(c["params"]["role"], c["params"]["agentId"], c["params"]["tmuxSession"])
            for c in shutdowns] == [("reviewer", "rev-1", "relay-rev"),
                                    ("security", None, None), ("tests", "tests-1", None)]
    again = client.post(f"/api/recipe-instances/{started['id']}/stop")
    assert (again.status_code, again.get_json()) == (
        409, {"error": f"recipe instance {started['id']} is already stopping"})
    for command in shutdowns[:2]:
        finish(client, command["id"])
    assert instance(client, started["id"])["status"] == "stopping"
    finish(client, shutdowns[2]["id"])
    done = instance(client, started["id"])
    assert done["status"] == "stopped"
    assert [x["status"] for x in done["roles"]] == ["stopped"] * 3
    updates = [e["data"]["status"] for e in client.get("/api/events/recent?limit=500").get_json()
               if e["type"] == "recipe.instance.updated"]
    assert updates == ["starting", "starting", "starting", "running", "stopping",
                       "stopping", "stopping", "stopped"]


def test_a_failed_spawn_fails_its_role_and_the_instance(client):
    add_orchestrator(client)
    started = start(client, "debug", vars={"bug": "cart total is off by one"})["instance"]
    spawns = pending(client, "agent.spawn")
    assert "cart total is off by one" in spawns[0]["params"]["prompt"]
    finish(client, spawns[0]["id"], "failed", error="tmux: no server")
    r = client.patch(f"/api/commands/{spawns[1]['id']}", json={"status": "cancelled"})
    assert r.status_code == 200
    now = instance(client, started["id"])
    assert now["status"] == "failed"
    assert [(x["status"], x["error"]) for x in now["roles"]] == [
        ("failed", "tmux: no server"), ("failed", "agent.spawn cancelled")]
    # Nothing runs, so a stop queues nothing and the instance is stopped at once.
    r = client.post(f"/api/recipe-instances/{started['id']}/stop")
    assert r.status_code == 202
    assert (r.get_json()["commands"], r.get_json()["instance"]["status"]) == ([], "stopped")


def test_instances_are_listed_newest_first_and_survive_a_restart(settings, clock):
    app = create_app(settings, clock)
    client = app.test_client()
    add_orchestrator(client)
    first = start(client)["instance"]
    second = start(client, "test")["instance"]
    listed = client.get("/api/recipe-instances").get_json()
    assert [i["id"] for i in listed] == [second["id"], first["id"]]
    assert [i["id"] for i in client.get("/api/recipe-instances?recipe=test").get_json()] == [
        second["id"]]
    assert client.get("/api/recipe-instances?status=running").get_json() == []
    assert len(client.get("/api/recipe-instances?limit=1").get_json()) == 1
    app.extensions["relay"].stop()
    again = create_app(settings, clock)
    try:
        assert again.test_client().get("/api/recipe-instances").get_json() == listed
    finally:
        again.extensions["relay"].stop()


def write(folder, name, content):
    (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))


def test_recipes_dir_adds_and_replaces_and_bad_files_are_skipped(tmp_path, clock, caplog):
    folder = tmp_path / "recipes"
    folder.mkdir()
    role = {"role": "solo", "provider": "codex", "prompt": "Work on {{task}} in {{cwd}}."}
    write(folder, "a-broken.json", "{not json")
    write(folder, "b-list.json", [1])
    write(folder, "c-bad-role.json", {"name": "bad", "roles": [{**role, "provider": "Gpt 4"}]})
    write(folder, "d-no-roles.json", {"name": "empty", "roles": []})
    write(folder, "e-dupe-roles.json", {"name": "dupe", "roles": [role, role]})
    write(folder, "f-solo.json", {"name": "solo", "description": "one agent", "roles": [role]})
    write(folder, "g-debug.json", {"name": "debug", "vars": {"task": "x"}, "roles": [role]})
    write(folder, "h-solo-again.json", {"name": "solo", "roles": [role]})
    write(folder, "notes.txt", "not a recipe")
    app = create_app(Settings(db=str(tmp_path / "r.db"), recipes_dir=str(folder)), clock)
    try:
        client = app.test_client()
        with caplog.at_level(logging.WARNING, logger="relay.recipes"):
            listed = client.get("/api/recipes").get_json()
        assert [r["name"] for r in listed] == ["code-review", "debug", "feature", "refactor",
                                               "solo", "test"]
        debug = client.get("/api/recipes/debug").get_json()
        assert debug["source"] == str(folder / "g-debug.json")
        assert [r["role"] for r in debug["roles"]] == ["solo"]
        assert client.get("/api/recipes/solo").get_json()["roles"][0] == {
            "role": "solo", "provider": "codex", "label": None, "tags": [], "capabilities": [],
            "approvalMode": "guarded", "providerArgs": [], "prompt": "Work on {{task}} in {{cwd}}."}
        reasons = [r.getMessage() for r in caplog.records]
        assert len(reasons) == 6
        assert reasons[0].startswith(f"recipe file {folder / 'a-broken.json'} skipped: is not "
                                     "valid JSON")
        assert reasons[1:] == [
            f"recipe file {folder / 'b-list.json'} skipped: must hold a JSON object",
            f"recipe file {folder / 'c-bad-role.json'} skipped: roles[0].provider must be a "
            "provider name: a lower-case letter, then at most 63 lower-case letters, digits or -",
            f"recipe file {folder / 'd-no-roles.json'} skipped: roles must have 1 to 20 roles",
            f"recipe file {folder / 'e-dupe-roles.json'} skipped: roles must have distinct role "
            "names: solo is repeated",
            f"recipe file {folder / 'h-solo-again.json'} skipped: recipe solo is already defined "
            f"by {folder / 'f-solo.json'}"]
        # Reasons are logged once, not on every request; a fixed file is read again.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="relay.recipes"):
            client.get("/api/recipes")
            write(folder, "c-bad-role.json", {"name": "fixed", "roles": [role]})
            assert client.get("/api/recipes/fixed").status_code == 200
        assert [r.getMessage() for r in caplog.records] == []
        add_orchestrator(client)
        r = client.post("/api/recipes/solo/start", json={"orchestratorId": "h1",
                                                         "vars": {"task": "the docs"}})
        assert r.status_code == 202
        spawn = pending(client, "agent.spawn")[0]["params"]
        assert (spawn["prompt"], spawn["cwd"]) == ("Work on the docs in /srv/app.", "/srv/app")
    finally:
        app.extensions["relay"].stop()


@pytest.mark.parametrize("body,error", [
    ({}, "orchestratorId is required"),
    ({"orchestratorId": "a/b"}, "orchestratorId must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"orchestratorId": "h1", "cwd": 5}, "cwd must be a string"),
    ({"orchestratorId": "h1", "cwd": "x" * 501}, "cwd must be at most 500 characters"),
    ({"orchestratorId": "h1", "vars": []}, VARS_RULE),
    ({"orchestratorId": "h1", "vars": {"target": 1}}, VARS_RULE),
    ({"orchestratorId": "h1", "vars": {"a-b": "x"}}, VARS_RULE),
    ({"orchestratorId": "h1", "vars": {"1a": "x"}}, VARS_RULE),
    ({"orchestratorId": "h1", "vars": {}}, "vars.target is required: recipe code-review uses "
                                           "{{target}} in role reviewer"),
    ({"orchestratorId": "h1", "cwd": "/etc"}, "cwd must be inside the orchestrator's baseDir "
     "/srv/app (compared after resolving symlinks and ..)"),
    ({"orchestratorId": "h1", "cwd": "/srv/app/../app-evil"}, "cwd must be inside the "
     "orchestrator's baseDir /srv/app (compared after resolving symlinks and ..)"),
    ({"orchestratorId": "h1", "vars": {"target": "x" * 3500}}, "vars must leave the prompt of "
     "role reviewer at most 4000 characters (it would be 7988)"),
])
def test_bad_start_names_the_field(client, body, error):
    add_orchestrator(client)
    r = client.post("/api/recipes/code-review/start", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})
    assert client.get("/api/commands").get_json()[-1:] == [] or \
        all(c["type"] != "agent.spawn" for c in client.get("/api/commands").get_json())
    assert client.get("/api/recipe-instances").get_json() == []


def test_start_needs_a_known_online_orchestrator_offering_the_providers(client, relay_, clock):
    r = client.post("/api/recipes/debug/start", json={"orchestratorId": "h1", "vars": {"bug": "b"}})
    assert (r.status_code, r.get_json()) == (404, {"error": "orchestrator h1 not found"})
    r = client.post("/api/recipes/nope/start", json={"orchestratorId": "h1"})
    assert (r.status_code, r.get_json()) == (404, {"error": "recipe nope not found"})
    add_orchestrator(client, providers=["claude"])
    r = client.post("/api/recipes/debug/start", json={"orchestratorId": "h1", "vars": {"bug": "b"}})
    assert (r.status_code, r.get_json()) == (422, {
        "error": "orchestratorId h1 cannot run role fixer: provider must be one the orchestrator "
                 "offers (claude)"})
    add_orchestrator(client, providers=["claude", "codex"])
    clock.advance(400)
    relay_.reaper.run_once()
    r = client.post("/api/recipes/debug/start", json={"orchestratorId": "h1", "vars": {"bug": "b"}})
    assert (r.status_code, r.get_json()) == (409, {"error": "orchestrator h1 is offline, not online"})
    assert client.get("/api/recipe-instances").get_json() == []
    r = client.post("/api/recipe-instances/ri_nope/stop")
    assert (r.status_code, r.get_json()) == (404, {"error": "recipe instance ri_nope not found"})
    assert client.get("/api/recipe-instances/ri_nope").status_code == 404
    r = client.get("/api/recipe-instances?status=done")
    assert r.status_code == 400 and r.get_json()["error"].startswith("status must be one of starting")


def test_an_expired_spawn_fails_its_role_in_the_reap_cycle(client, clock):
    add_orchestrator(client)
    started = start(client, "refactor", vars={"area": "relay/store"})["instance"]
    spawns = pending(client, "agent.spawn")
    finish(client, spawns[0]["id"])
    clock.advance(601)
    client.post(f"/api/orchestrators/h1/heartbeat")
    report = client.post("/api/system/reap").get_json()
    assert report["expiredCommandIds"] == [spawns[1]["id"]]
    assert report["failedRecipeInstanceIds"] == [started["id"]]
    now = instance(client, started["id"])
    assert now["status"] == "failed"
    assert [(r["status"], r["error"]) for r in now["roles"]] == [
        ("running", None), ("failed", "expired before it was accepted")]
    assert client.post("/api/system/reap").get_json()["failedRecipeInstanceIds"] == []


def test_a_custom_provider_role_starts_where_the_orchestrator_offers_it(tmp_path, clock):
    folder = tmp_path / "recipes"
    folder.mkdir()
    write(folder, "pair.json", {"name": "pair", "roles": [
        {"role": "a", "provider": "claude", "prompt": "Write it."},
        {"role": "b", "provider": "my-agent2", "prompt": "Check it."}]})
    app = create_app(Settings(db=str(tmp_path / "r.db"), recipes_dir=str(folder)), clock)
    try:
        client = app.test_client()
        add_orchestrator(client)
        assert start(client, "pair", status=422) == {
            "error": "orchestratorId h1 cannot run role b: provider must be one the orchestrator "
                     "offers (claude, codex)"}
        assert client.get("/api/commands").get_json() == []
        add_orchestrator(client, providers=["claude", "my-agent2"])
        started = start(client, "pair")["instance"]
        assert [(r["role"], r["provider"]) for r in started["roles"]] == [
            ("a", "claude"), ("b", "my-agent2")]
        assert [c["params"]["provider"] for c in pending(client, "agent.spawn")] == [
            "claude", "my-agent2"]
    finally:
        app.extensions["relay"].stop()

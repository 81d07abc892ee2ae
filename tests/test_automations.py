"""Automations: CRUD, event and interval triggers, actions, runs, the loop guard."""
import time

import pytest


from .conftest import register, send


def create(client, status=201, **body):
    body = {"name": "echo", "trigger": {"event": "message.new"},
            "action": {"type": "message", "to": "bob", "body": "seen"}, **body}
    r = client.post("/api/automations", json=body)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def runs(client, automation_id):
    r = client.get(f"/api/automations/{automation_id}/runs")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def bodies(client, agent_id):
    return [m["body"] for m in client.get(f"/api/messages?for={agent_id}").get_json()]


def test_crud(client, clock):
    made = create(client, id="page-lead", trigger={"event": "task.created",
                                                  "filter": {"severity": "critical"}})
    assert made == {"id": "page-lead", "name": "echo", "enabled": True,
                    "trigger": {"event": "task.created", "filter": {"severity": "critical"}},
                    "action": {"type": "message", "to": "bob", "body": "seen"},
                    "nextRunAt": None, "createdAt": clock(), "updatedAt": clock()}
    other = create(client, trigger={"everySeconds": 900})
    assert other["id"].startswith("auto_") and other["nextRunAt"] == clock() + 900_000
    r = client.post("/api/automations", json={**made, "id": "page-lead"})
    assert (r.status_code, r.get_json()) == (409, {"error": "automation page-lead already exists"})
    assert [a["id"] for a in client.get("/api/automations").get_json()] == ["page-lead", other["id"]]
    assert client.get("/api/automations/page-lead").get_json() == made
    clock.advance(10)
    r = client.patch("/api/automations/page-lead", json={"enabled": False, "name": "pager"})
    assert r.get_json() == {**made, "enabled": False, "name": "pager", "updatedAt": clock()}
    r = client.patch(f"/api/automations/{other['id']}", json={"trigger": {"everySeconds": 60}})
    assert r.get_json()["nextRunAt"] == clock() + 60_000
    r = client.patch(f"/api/automations/{other['id']}", json={"enabled": False})
    assert r.get_json()["nextRunAt"] is None
    client.post("/api/automations/page-lead/run")
    assert len(runs(client, "page-lead")) == 1
    assert client.delete("/api/automations/page-lead").get_json() == {"ok": True}
    for r in (client.get("/api/automations/page-lead"), client.delete("/api/automations/page-lead"),
              client.patch("/api/automations/page-lead", json={}),
              client.post("/api/automations/page-lead/run"),
              client.get("/api/automations/page-lead/runs")):
        assert (r.status_code, r.get_json()) == (404, {"error": "automation page-lead not found"})
    assert [a["id"] for a in client.get("/api/automations").get_json()] == [other["id"]]


def test_event_trigger_fires_once_per_matching_event_only(client, relay_):
    register(client, "bob")
    made = create(client, trigger={"event": "message.", "filter": {"from": "ann",
                                                                  "meta.team": "core"}},
                  action={"type": "message", "to": "bob", "subject": "{{event.type}}",
                          "body": "ann said: {{event.data.body}}",
                          "replyTo": "{{event.data.id}}"})
    first = send(client, "ann", "bob", "ship it", meta={"team": "core"})
    send(client, "ann", "bob", "other team", meta={"team": "web"})
    send(client, "cy", "bob", "not ann", meta={"team": "core"})
    send(client, "ann", "bob", "no meta")
    assert relay_.automations.drain() != []
    assert relay_.automations.drain() == []          # nothing left, nothing twice
    made_runs = runs(client, made["id"])
    assert [(r["trigger"], r["status"], r["depth"], r["eventId"]) for r in made_runs] == [
        ("event", "succeeded", 1, made_runs[0]["eventId"])]
    reply = made_runs[0]["result"]["body"]
    assert made_runs[0]["result"]["status"] == 201
    assert (reply["from"], reply["subject"], reply["body"], reply["replyTo"]) == (
        f"automation:{made['id']}", "message.new", "ann said: ship it", first["id"])
    event = [e for e in client.get("/api/events/recent").get_json()
             if e["id"] == made_runs[0]["eventId"]][0]
    assert (event["type"], event["data"]["id"]) == ("message.new", first["id"])
    assert bodies(client, "bob")[-1] == "ann said: ship it"


def test_disabled_and_unwatched_events_queue_nothing(client, relay_):
    register(client, "bob")
    made = create(client, trigger={"event": "task.created"})
    send(client, "ann", "bob")
    assert relay_.automations._queue.qsize() == 0
    client.patch(f"/api/automations/{made['id']}", json={"trigger": {"event": "message.new"},
                                                         "enabled": False})
    send(client, "ann", "bob")
    assert relay_.automations._queue.qsize() == 0
    client.patch(f"/api/automations/{made['id']}", json={"enabled": True})
    send(client, "ann", "bob")
    assert relay_.automations._queue.qsize() == 1


def test_interval_trigger_fires_on_the_clock(client, relay_, clock):
    register(client, "triage")
    made = create(client, trigger={"everySeconds": 900},
                  action={"type": "message", "to": "triage", "body": "summary please"})
    assert relay_.automations.run_due() == []
    clock.advance(899)
    assert relay_.automations.run_due() == []
    clock.advance(1)
    done = relay_.automations.run_due()
    assert [(r["trigger"], r["status"], r["depth"], r["eventId"], r["startedAt"]) for r in done] == [
        ("interval", "succeeded", 1, None, clock())]
    assert relay_.automations.run_due() == []
    assert client.get(f"/api/automations/{made['id']}").get_json()["nextRunAt"] == clock() + 900_000
    clock.advance(3 * 900)                            # after a pause: one run, not three
    assert len(relay_.automations.run_due()) == 1
    assert relay_.automations.run_due() == []
    client.patch(f"/api/automations/{made['id']}", json={"enabled": False})
    clock.advance(900)
    assert relay_.automations.run_due() == []
    assert bodies(client, "triage") == ["summary please"] * 2
    assert len(runs(client, made["id"])) == 2


def test_loop_guard_stops_a_self_triggering_automation(client, relay_):
    register(client, "loop")
    made = create(client, trigger={"event": "message.new", "filter": {"to": "loop"}},
                  action={"type": "message", "to": "loop", "body": "again: {{event.data.body}}"})
    send(client, "ann", "loop", "go")
    relay_.automations.drain()
    assert bodies(client, "loop") == ["go", "again: go", "again: again: go",
                                      "again: again: again: go"]
    made_runs = runs(client, made["id"])
    assert [(r["depth"], r["status"]) for r in made_runs] == [
        (4, "skipped"), (3, "succeeded"), (2, "succeeded"), (1, "succeeded")]
    assert made_runs[0]["error"] == ("loop guard: depth 4 is past 3 (the event was caused by "
                                     "automation runs 3 deep)")
    assert made_runs[0]["result"] is None
    # A manual run starts again at depth 1.
    assert client.post(f"/api/automations/{made['id']}/run").get_json()["status"] == "failed"
    assert relay_.automations.drain() == []


def test_manual_run_answers_the_run_and_records_failures(client, clock):
    register(client, "bob")
    ok = create(client, action={"type": "message", "to": "bob", "body": "manual"},
                enabled=False)
    r = client.post(f"/api/automations/{ok['id']}/run")
    assert r.status_code == 200
    run = r.get_json()
    assert {k: run[k] for k in ("trigger", "eventId", "depth", "status", "error")} == {
        "trigger": "manual", "eventId": None, "depth": 1, "status": "succeeded", "error": None}
    assert run["result"]["body"]["body"] == "manual" and run["startedAt"] == clock()
    bad = create(client, action={"type": "message", "to": "nobody", "body": "x"})
    run = client.post(f"/api/automations/{bad['id']}/run").get_json()
    assert (run["status"], run["error"], run["result"]) == (
        "failed", "POST /api/messages answered 404: agent nobody not found", None)
    policy = create(client, action={"type": "spawn", "policyName": "on-call"})
    run = client.post(f"/api/automations/{policy['id']}/run").get_json()
    assert (run["status"], run["error"]) == (
        "failed", "POST /api/spawn-policy/on-call/start answered 404: spawn policy on-call "
                  "not found")
    assert [r["status"] for r in runs(client, bad["id"])] == ["failed"]


def test_command_spawn_and_task_actions(client):
    register(client, "bob")
    client.post("/api/orchestrators", json={"id": "h1", "providers": ["claude"],
                                            "baseDir": "/srv/app"})
    command = create(client, action={"type": "command", "commandType": "x.summarise",
                                     "target": "orchestrator-h1", "params": {"n": 3}})
    result = client.post(f"/api/automations/{command['id']}/run").get_json()["result"]["body"]
    assert (result["type"], result["target"], result["params"], result["source"]) == (
        "x.summarise", "orchestrator-h1", {"n": 3}, f"automation:{command['id']}")
    spawn = create(client, action={"type": "spawn", "orchestratorId": "h1", "provider": "claude",
                                   "cwd": "repo", "prompt": "triage"})
    run = client.post(f"/api/automations/{spawn['id']}/run").get_json()
    assert run["result"]["status"] == 202
    params = run["result"]["body"]["command"]["params"]
    assert (params["provider"], params["cwd"], params["prompt"]) == ("claude", "/srv/app/repo",
                                                                     "triage")
    client.put("/api/spawn-policy/on-call", json={"orchestratorId": "h1", "provider": "claude",
                                                  "cwd": "/srv/app"})
    policy = create(client, action={"type": "spawn", "policyName": "on-call"})
    run = client.post(f"/api/automations/{policy['id']}/run").get_json()
    assert (run["status"], run["result"]["body"]["command"]["type"]) == ("succeeded", "agent.spawn")
    assert client.get("/api/spawn-policy/on-call/status").get_json()["state"]["status"] == "starting"
    task = create(client, action={"type": "task", "title": "look at {{event.data.body}}"},
                  trigger={"event": "message.new"})
    send(client, "ann", "bob", "the build")
    client.application.extensions["relay"].automations.drain()
    run = runs(client, task["id"])[0]
    assert (run["status"], run["result"]["status"]) == ("succeeded", 201)
    assert run["result"]["body"]["title"] == "look at the build"


@pytest.mark.parametrize("body,error", [
    ({"name": ""}, "name must not be empty"),
    ({"name": "n" * 121}, "name must be at most 120 characters"),
    ({"id": "a/b"}, "id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"enabled": "yes"}, "enabled must be true or false"),
    ({"trigger": None}, "trigger must be a JSON object"),
    ({"trigger": {}}, "trigger must have either event (an event type prefix) or everySeconds"),
    ({"trigger": {"event": "a", "everySeconds": 5}}, "trigger must have either event (an event "
                                                     "type prefix) or everySeconds"),
    ({"trigger": {"event": ""}}, "trigger.event must not be empty"),
    ({"trigger": {"event": "message.new", "filter": [1]}}, "trigger.filter must be a JSON object"),
    ({"trigger": {"everySeconds": 0}}, "trigger.everySeconds must be an integer between 1 and "
                                       "2592000"),
    ({"trigger": {"everySeconds": 60, "filter": {"a": 1}}}, "trigger must not have a filter "
                                                            "with everySeconds"),
    ({"action": {"to": "bob"}}, "action.type is required"),
    ({"action": {"type": "email"}}, "action.type must be one of message, task, spawn, command"),
    ({"action": {"type": "message", "to": "bob"}}, "action.body is required"),
    ({"action": {"type": "message", "to": "a b", "body": "x"}}, "action.to must be 1-240 "
                                                                "characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"action": {"type": "command", "target": "h"}}, "action.commandType is required (the "
                                                     "command's own type)"),
    ({"action": {"type": "command", "commandType": "rm", "target": "h"}}, "action.type must be "
     "one of agent.spawn, agent.restart, agent.shutdown, prompt.inject, or x.<name> for a custom "
     "type (at most 120 characters)"),
    ({"action": {"type": "spawn"}}, "action.policyName or action.orchestratorId is required for "
                                    "a spawn action"),
    ({"action": {"type": "spawn", "policyName": 3}}, "action.policyName must be a spawn "
                                                     "policy's name"),
    ({"action": {"type": "spawn", "orchestratorId": "h1"}}, "action.provider is required"),
])
def test_bad_input_names_the_field(client, body, error):
    r = client.post("/api/automations", json={
        "name": "n", "trigger": {"event": "message.new"},
        "action": {"type": "message", "to": "bob", "body": "x"}, **body})
    assert (r.status_code, r.get_json()) == (400, {"error": error})
    assert client.get("/api/automations").get_json() == []


def test_placeholders_defer_their_fields_check_and_bad_patches_and_queries(client):
    # "to" holds a placeholder: checked when a run fills it in.
    made = create(client, action={"type": "message", "to": "{{event.data.from}}", "body": "x"})
    r = client.patch(f"/api/automations/{made['id']}", json={"action": {"type": "fax"}})
    assert (r.status_code, r.get_json()) == (400, {"error": "action.type must be one of message, "
                                                            "task, spawn, command"})
    r = client.patch(f"/api/automations/{made['id']}", json={"enabled": None, "name": 5})
    assert (r.status_code, r.get_json()) == (400, {"error": "name must be a string"})
    r = client.get(f"/api/automations/{made['id']}/runs?limit=0")
    assert (r.status_code, r.get_json()) == (400, {"error": "limit must be an integer between 1 "
                                                            "and 500"})


def wait_for(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("not within the deadline")


def test_event_runs_happen_off_the_request_and_a_failure_stays_on_the_run(live):
    assert live.request("POST", "/api/agents", {"id": "bob"})[0] == 201
    status, made = live.request("POST", "/api/automations", {
        "name": "page", "trigger": {"event": "message.new", "filter": {"to": "bob"}},
        "action": {"type": "message", "to": "nobody", "body": "page: {{event.data.body}}"}})
    assert status == 201
    threads = []
    real = live.relay.automations.execute

    def spying(*args):
        import threading
        threads.append(threading.current_thread().name)
        return real(*args)
    live.relay.automations.execute = spying
    status, message = live.request("POST", "/api/messages", {"from": "ann", "to": "bob",
                                                             "body": "disk full"})
    assert status == 201 and message["body"] == "disk full"
    found = wait_for(lambda: live.request("GET", f"/api/automations/{made['id']}/runs")[1])
    assert [(r["trigger"], r["status"], r["error"]) for r in found] == [
        ("event", "failed", "POST /api/messages answered 404: agent nobody not found")]
    assert threads == ["relay-automations"]
    # The relay goes on: the next matching message makes the next run.
    assert live.request("POST", "/api/messages", {"from": "ann", "to": "bob", "body": "2"})[0] == 201
    wait_for(lambda: len(live.request("GET", f"/api/automations/{made['id']}/runs")[1]) == 2)


def test_actions_carry_the_relay_token(db_path, clock):
    from relay.server import create_app
    from relay.server.settings import Settings
    app = create_app(Settings(db=db_path, token="s3cret"), clock)
    try:
        client = app.test_client()
        auth = {"X-Agent-Relay-Token": "s3cret"}
        assert client.post("/api/agents", json={"id": "bob"}, headers=auth).status_code == 201
        r = client.post("/api/automations", headers=auth, json={
            "name": "n", "trigger": {"everySeconds": 60},
            "action": {"type": "message", "to": "bob", "body": "hi"}})
        assert client.post(f"/api/automations/{r.get_json()['id']}/run").status_code == 401
        run = client.post(f"/api/automations/{r.get_json()['id']}/run", headers=auth).get_json()
        assert (run["status"], run["result"]["status"]) == ("succeeded", 201)
    finally:
        app.extensions["relay"].stop()


def test_loop_guard_holds_while_other_requests_commit_alongside(live):
    import threading
    for agent in ("loop", "bob"):
        assert live.request("POST", "/api/agents", {"id": agent})[0] == 201
    status, made = live.request("POST", "/api/automations", {
        "name": "loop", "trigger": {"event": "message.new", "filter": {"to": "loop"}},
        "action": {"type": "message", "to": "loop", "body": "again"}})
    assert status == 201
    answers = []

    def chatter():
        for i in range(40):
            answers.append(live.request("POST", "/api/messages",
                                        {"from": "ann", "to": "bob", "body": str(i)})[0])
    threads = [threading.Thread(target=chatter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for seed in range(3):
        assert live.request("POST", "/api/messages", {"from": "ann", "to": "loop",
                                                      "body": "go"})[0] == 201
    for thread in threads:
        thread.join()
    assert answers == [201] * 160
    found = wait_for(lambda: (lambda r: r if len(r) >= 12 else None)(
        live.request("GET", f"/api/automations/{made['id']}/runs")[1]))
    assert sorted((r["depth"], r["status"]) for r in found) == sorted(
        [(1, "succeeded"), (2, "succeeded"), (3, "succeeded"), (4, "skipped")] * 3)
    assert len(live.request("GET", "/api/messages?for=loop&limit=500")[1]) == 3 + 9


def test_the_thread_runs_interval_automations_on_the_injected_clock(client, relay_, clock):
    register(client, "triage")
    made = create(client, trigger={"everySeconds": 60},
                  action={"type": "message", "to": "triage", "body": "tick"})
    relay_.automations.tick = 0.01
    relay_.automations.start()
    try:
        clock.advance(59)
        time.sleep(0.1)                    # many ticks: nothing is due yet
        assert runs(client, made["id"]) == []
        clock.advance(1)
        found = wait_for(lambda: runs(client, made["id"]))
        assert [(r["trigger"], r["status"], r["startedAt"]) for r in found] == [
            ("interval", "succeeded", clock())]
        time.sleep(0.1)
        assert len(runs(client, made["id"])) == 1
    finally:
        relay_.automations.stop()
    assert not relay_.automations.running

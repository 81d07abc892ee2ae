"""`relay orchestrator` end to end (README "Keeping an agent running"): a real
relay on a free port with short ticks, the real orchestrator process, real tmux,
and the fake provider (an agent that answers messages through the client) run by
`relay run` in each session."""
import http.client
import json
import shutil
import time
from urllib.parse import urlsplit

import pytest

from .orchestrator_harness import Orchestrator, Relay, stream_lines, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (.ci/run installs it)")

POLICY = {"orchestratorId": "h1", "provider": "fake", "cwd": "app", "prompt": "keep; going",
          "permissionMode": "read-only", "restart": {"backoffSeconds": 1}}


@pytest.fixture
def relay(tmp_path):
    r = Relay(str(tmp_path / "relay.db"))
    r.ok("POST", "/api/agents", {"id": "ann", "kind": "user"})      # who the tests write as
    yield r
    r.stop()


@pytest.fixture
def orch(tmp_path, relay):
    o = Orchestrator(tmp_path, relay)
    o.start()
    yield o
    o.close()


def answers(relay, to="ann"):
    return [(m["from"], m["body"], m["replyTo"])
            for m in relay.ok("GET", f"/api/messages?for={to}")]


def test_registers_offering_only_available_providers(orch, relay):
    record = orch.record()
    assert (record["providers"], record["baseDir"], record["status"]) == (
        ["fake"], str(orch.base.resolve()), "online")
    assert record["apiUrl"].startswith("http://127.0.0.1:") and "apiToken" not in record
    r = relay.call("POST", "/api/orchestrators/h1/spawn", {"provider": "claude"})
    assert r == (422, {"error": "provider must be one the orchestrator offers (fake)"})


def test_an_always_policy_comes_up_answers_and_comes_back_after_its_session_is_killed(orch, relay):
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always", "enabled": False})
    queued = relay.ok("POST", "/api/messages", {"from": "ann", "to": "policy:keeper",
                                                "body": "are you there?"})
    assert queued["deliveryStatus"] == "queued"
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    state = relay.running("keeper")
    first = state["agentId"]
    assert first.startswith("keeper-") and state["tmuxSession"] in orch.sessions()
    agent = relay.ok("GET", f"/api/agents/{first}")
    assert {k: agent["meta"].get(k) for k in ("policyName", "orchestratorId")} == {
        "policyName": "keeper", "orchestratorId": "h1"}
    wait_for(lambda: answers(relay) == [(first, "echo: are you there?", queued["id"])],
             what="the queued message answered")
    # The provider got the prompt and the approval mode, in the base dir's app folder.
    pane = orch.tmux.capture(state["tmuxSession"])
    assert (f"fake provider {first}: prompt='keep; going' mode=read-only args=[] "
            f"cwd={orch.base.resolve() / 'app'} policy=keeper env=[]") in pane
    wait_for(lambda: [(e["agentId"], e["status"]) for e in orch.record()["managedAgents"]] == [
        (first, "running")], what="the roster")

    # Its tmux session is killed: the policy fails at once, backs off, and runs again.
    orch.tmux.kill(state["tmuxSession"])
    again = relay.running("keeper", other_than=first)
    assert again["tmuxSession"] != state["tmuxSession"] and again["tmuxSession"] in orch.sessions()
    assert state["tmuxSession"] not in orch.sessions()
    assert relay.states("keeper") == ["starting", "starting", "running", "backoff",
                                      "starting", "starting", "running"]
    assert again["consecutiveFailures"] == 1 and again["restartCount"] == 1
    relay.ok("POST", "/api/messages", {"from": "ann", "to": "policy:keeper", "body": "still?"})
    wait_for(lambda: (again["agentId"], "echo: still?") in [a[:2] for a in answers(relay)],
             what="the new instance answering")
    assert len(orch.sessions()) == 1


def test_manual_start_inject_restart_stop(orch, relay):
    relay.ok("PUT", "/api/spawn-policy/hand", {**POLICY, "mode": "manual"})
    assert orch.sessions() == {}
    relay.ok("POST", "/api/spawn-policy/hand/start")
    state = relay.running("hand")
    session = state["tmuxSession"]

    command = orch.command("prompt.inject", policyName="hand", text="look at PR 7; then $(rm)")
    done = relay.finished(command["id"])
    assert (done["status"], done["result"]) == ("succeeded", {
        "agentId": state["agentId"], "tmuxSession": session, "typed": 24})
    wait_for(lambda: "typed: look at PR 7; then $(rm)" in orch.tmux.capture(session),
             what="the text in the pane")

    pid = orch.sessions()[session]["pid"]
    restart = relay.ok("POST", "/api/spawn-policy/hand/restart")["command"]
    assert relay.finished(restart["id"])["status"] == "succeeded"
    wait_for(lambda: (p := orch.sessions().get(session)) and p["pid"] != pid,
             what="the session started again")
    again = relay.running("hand")
    assert (again["agentId"], again["tmuxSession"]) == (state["agentId"], session)

    stop = relay.ok("POST", "/api/spawn-policy/hand/stop")["command"]
    assert relay.finished(stop["id"])["result"] == {
        "stopped": True, "agentId": state["agentId"], "tmuxSession": session}
    assert relay.state("hand")["status"] == "stopped" and orch.sessions() == {}
    wait_for(lambda: orch.record()["managedAgents"] == [], what="an empty roster")
    assert relay.state("hand")["consecutiveFailures"] == 0


def test_on_demand_starts_on_a_queued_message_and_stops_when_idle(orch, relay):
    relay.ok("PUT", "/api/spawn-policy/lazy", {**POLICY, "mode": "on-demand",
                                               "idleStopSeconds": 2})
    time.sleep(0.5)                        # a few lifecycle ticks with nothing queued
    assert orch.sessions() == {} and relay.state("lazy")["status"] == "stopped"
    sent = relay.ok("POST", "/api/messages", {"from": "ann", "to": "policy:lazy", "body": "hi"})
    state = relay.running("lazy")
    wait_for(lambda: answers(relay) == [(state["agentId"], "echo: hi", sent["id"])],
             what="the answer")
    wait_for(lambda: relay.state("lazy")["status"] == "stopped", what="the idle stop")
    assert orch.sessions() == {}
    assert relay.states("lazy")[-2:] == ["stopping", "stopped"]


@pytest.mark.parametrize("cwd", ["..", "out", "OUTSIDE"])
def test_a_cwd_outside_the_base_dir_fails_and_starts_nothing(orch, relay, tmp_path, cwd):
    (orch.base / "out").symlink_to(tmp_path)
    cwd = str(tmp_path) if cwd == "OUTSIDE" else cwd
    command = orch.command("agent.spawn", provider="fake", cwd=cwd)
    done = relay.finished(command["id"])
    assert done["status"] == "failed" and done["error"].startswith(f"cwd {cwd} is outside the "
                                                                   "base dir")
    assert orch.sessions() == {} and orch.record()["managedAgents"] == []


def test_unavailable_providers_and_unknown_types_fail_with_the_reason(orch, relay):
    done = relay.finished(orch.command("agent.spawn", provider="claude")["id"])
    assert (done["status"], done["error"]) == (
        "failed", "provider claude is not offered by this orchestrator (offered: fake)")
    done = relay.finished(orch.command("x.deploy", what="all")["id"])
    assert (done["status"], done["error"]) == ("failed", "unsupported command type x.deploy")
    done = relay.finished(orch.command("prompt.inject", agentId="nobody", text="x")["id"])
    assert (done["status"], done["error"]) == (
        "failed", "no session of this orchestrator matches agentId nobody")
    assert orch.sessions() == {}


def test_a_restarted_orchestrator_adopts_its_sessions(orch, relay):
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    state = relay.running("keeper")
    roster = wait_for(lambda: orch.record()["managedAgents"], what="the roster")
    assert orch.stop() == 0                       # SIGTERM: the daemon stops, its agents run
    assert list(orch.sessions()) == [state["tmuxSession"]]
    assert orch.record()["managedAgents"] == roster       # never sent empty at shutdown
    orch.start()
    time.sleep(1.5)                               # heartbeats with the roster, sweeps
    assert orch.record()["managedAgents"] == roster and list(orch.sessions()) == [
        state["tmuxSession"]]
    assert relay.state("keeper")["agentId"] == state["agentId"]
    spawns = relay.ok("GET", "/api/commands?type=agent.spawn")
    assert len(spawns) == 1 and spawns[0]["status"] == "succeeded"
    # Adopted, not only left alone: its death is noticed, and the policy restarts it.
    orch.tmux.kill(state["tmuxSession"])
    assert relay.running("keeper", other_than=state["agentId"])


def test_a_relay_restarted_on_its_database_loses_nothing_and_runs_nothing_twice(orch, relay):
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    state = relay.running("keeper")
    relay.stop()
    time.sleep(1.5)                               # heartbeats, sweeps and the stream fail
    relay.start()
    command = orch.command("prompt.inject", policyName="keeper", text="after the restart")
    assert relay.finished(command["id"])["status"] == "succeeded"
    wait_for(lambda: orch.tmux.capture(state["tmuxSession"]).count(
        "typed: after the restart") == 1, what="the text typed once")
    assert relay.state("keeper")["agentId"] == state["agentId"]
    assert relay.ok("GET", "/api/orchestrators/h1")["status"] == "online"
    commands = relay.ok("GET", "/api/commands")
    assert [(c["type"], c["status"]) for c in commands] == [
        ("agent.spawn", "succeeded"), ("prompt.inject", "succeeded")]
    time.sleep(1)
    assert orch.tmux.capture(state["tmuxSession"]).count("typed: after the restart") == 1
    assert len(orch.sessions()) == 1


@pytest.fixture
def guarded(tmp_path):
    """A relay with a token, and the orchestrator run with it."""
    r = Relay(str(tmp_path / "relay.db"), token="relay-secret-token")
    r.ok("POST", "/api/agents", {"id": "ann", "kind": "user"})
    o = Orchestrator(tmp_path, r)
    o.start()
    yield o, r
    o.close()
    r.stop()


def test_the_relays_proxies_reach_its_api(guarded):
    orch, relay = guarded
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    state = relay.running("keeper")
    status, dirs = orch.api("directories")
    assert status == 200 and dirs["directories"] == [
        {"name": "app", "path": str(orch.base.resolve() / "app")}]
    # Outside the base dir: its own 400, passed through as it is.
    status, refused = orch.api("directories?path=..")
    assert status == 400 and list(refused) == ["error"]
    assert refused["error"].startswith("path must be inside the base dir: cwd .. is outside")
    status, sessions = orch.api("sessions")
    assert status == 200 and [(s["sessionName"], s["agentId"], s["status"]) for s in sessions] == [
        (state["tmuxSession"], state["agentId"], "running")]
    status, version = orch.api("version")
    assert status == 200 and version["orchestratorId"] == "h1"
    status, providers = orch.api("providers")
    assert [(p["name"], p["available"]) for p in providers] == [("claude", False),
                                                               ("fake", True)]
    session = state["tmuxSession"]
    wait_for(lambda: any("fake provider" in line for line in orch.tmux.capture(session)))
    auth = {"X-Agent-Relay-Token": relay.token}
    frames = stream_lines(relay.port, f"/api/orchestrators/h1/logs/{session}",
                          lambda f: any("fake provider" in line
                                        for line in f[0]["data"]["lines"]), headers=auth)
    assert frames[0]["event"] == "log"
    relay.ok("POST", "/api/messages", {"from": "ann", "to": "policy:keeper", "body": "live"})
    # Live: what the agent prints after the stream opened arrives on it.
    stream_lines(relay.port, f"/api/orchestrators/h1/logs/{session}",
                 lambda f: any("answered" in line and ": live" in line
                               for fr in f for line in fr["data"].get("lines", [])),
                 headers=auth)
    # The relay's token opens the relay, not the orchestrator: it is never forwarded.
    api_url = orch.record()["apiUrl"]
    conn = http.client.HTTPConnection(urlsplit(api_url).hostname, urlsplit(api_url).port)
    conn.request("GET", "/api/version", headers={"Authorization": f"Bearer {relay.token}"})
    assert conn.getresponse().status == 401


def test_commands_left_unfinished_by_an_earlier_run_are_reported_never_run_again(
        tmp_path, relay):
    o = Orchestrator(tmp_path, relay)
    try:
        o.start()
        o.stop()
        # An earlier run accepted these and died: one with its outcome recorded, one without.
        done, lost = (o.command("prompt.inject", agentId="a", text="x") for _ in range(2))
        for command in (done, lost):
            relay.ok("PATCH", f"/api/commands/{command['id']}", {"status": "accepted"})
        state_file = tmp_path / "state" / "relay" / "orchestrator-h1.json"
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"sessions": {}, "done": {
            done["id"]: {"status": "succeeded", "result": {"typed": 1}}}}))
        o.start()
        assert relay.finished(done["id"])["result"] == {"typed": 1}
        assert (relay.finished(lost["id"])["status"], relay.command(lost["id"])["error"]) == (
            "failed", "the orchestrator stopped before it finished this command")
    finally:
        o.close()


def test_a_relay_on_a_new_database_gets_the_orchestrator_and_its_roster_again(orch, relay,
                                                                              tmp_path):
    relay.ok("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    state = relay.running("keeper")
    relay.stop()
    relay.db = str(tmp_path / "new.db")
    relay.start()
    record = wait_for(lambda: (c := relay.call("GET", "/api/orchestrators/h1"))[0] == 200
                      and c[1]["managedAgents"] and c[1], what="registered again")
    assert (record["providers"], [e["agentId"] for e in record["managedAgents"]]) == (
        ["fake"], [state["agentId"]])


def test_claude_gets_its_flags_and_the_relays_provider_config(tmp_path, relay):
    o = Orchestrator(tmp_path, relay, RELAY_PROVIDER_CLAUDE=Orchestrator.FAKE_COMMAND)
    try:
        o.start()
        relay.ok("PUT", "/api/providers/claude/config", {
            "model": "opus", "args": ["--verbose"], "env": {"FAKE_COLOR": "blue"}})
        command = relay.ok("POST", "/api/orchestrators/h1/spawn", {
            "provider": "claude", "cwd": "app", "approvalMode": "read-only",
            "prompt": "--help me", "providerArgs": ["--add-dir", "/tmp"]})["command"]
        result = relay.finished(command["id"])["result"]
        line = wait_for(lambda: [x for x in o.tmux.capture(result["tmuxSession"])
                                 if x.startswith("fake provider")], what="the provider's line")
        assert line[0].endswith(
            "prompt=None mode=None args=['--permission-mode', 'plan', '--model', 'opus', "
            "'--verbose', '--add-dir', '/tmp', '--', '--help me'] "
            f"cwd={o.base.resolve() / 'app'} policy=None env=[('FAKE_COLOR', 'blue')]")
    finally:
        o.close()

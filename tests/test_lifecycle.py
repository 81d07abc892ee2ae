"""The lifecycle manager, driven by a fake orchestrator over real HTTP.

The relay runs on waitress with a ManualClock; the test moves the clock and
runs the manager's pass itself (its thread's tick is an hour here), so every
wait is checked exactly and nothing sleeps.
"""
import threading
import time

import pytest

from relay.server.domain import orchestration
from relay.server.clock import ManualClock
from relay.server.settings import Settings
from relay.server.serving import Server

from .fake_orchestrator import FakeOrchestrator
from .sse import SSE

POLICY = {"orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app/repo"}


class Relay:
    """A live relay with a manual clock, and the few calls the tests make."""

    def __init__(self, settings, clock):
        self.server = Server(settings, clock)
        self.relay = self.server.relay
        self.clock = clock
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.orch = FakeOrchestrator(self.server.port)
        self.call = self.orch.call

    def put(self, name="reviewer", **fields):
        status, entry = self.call("PUT", f"/api/spawn-policy/{name}", {**POLICY, **fields})
        assert status in (200, 201), entry

    def state(self, name="reviewer"):
        return self.call("GET", f"/api/spawn-policy/{name}/status")[1]["state"]

    def tick(self):
        return self.relay.lifecycle.run_once()

    def advance(self, seconds):
        self.clock.advance(seconds)
        self.orch.heartbeat()          # the orchestrator stays online throughout

    def send(self, body, to="policy:reviewer"):
        status, message = self.call("POST", "/api/messages", {"from": "ann", "to": to, "body": body})
        assert status == 201, message
        return message

    def inbox(self, agent_id):
        return [m["body"] for m in self.call("GET", f"/api/messages?for={agent_id}")[1]]


@pytest.fixture
def relay(tmp_path):
    settings = Settings(db=str(tmp_path / "life.db"), port=0, threads=16, reap_interval=3600,
                        lifecycle_tick=3600, keepalive=0.5)
    r = Relay(settings, ManualClock())
    # The test runs every pass itself: the thread (woken by each policy change) does not.
    r.relay.lifecycle.stop()
    yield r
    r.server.stop()
    r.thread.join(10)


@pytest.fixture
def commits(relay, monkeypatch):
    """Every commit the relay makes from here on."""
    made = []
    real = relay.relay.committer.commit

    def counting(change, *depth, **options):
        made.append(change)
        return real(change, *depth, **options)
    monkeypatch.setattr(relay.relay.committer, "commit", counting)
    return made


def spawns(relay, kind="agent.spawn"):
    return [c for c in relay.orch.poll() if c["type"] == kind]


def test_always_policy_start_register_deliver_die_back_off(relay, commits):
    relay.put(mode="always", restart={"maxPerDay": 3, "backoffSeconds": 5,
                                      "maxBackoffSeconds": 8}, startTimeoutSeconds=60)
    first, second = relay.send("one"), relay.send("two")
    assert first["deliveryStatus"] == second["deliveryStatus"] == "queued"

    assert relay.tick() == [("reviewer", "start")]
    [command] = spawns(relay)
    assert command["params"]["reason"] == "policy-always"
    assert relay.state()["status"] == "starting"
    relay.orch.finish(command, result={"tmuxSession": "relay-reviewer"})
    assert relay.tick() == []                      # spawned, not yet registered: waits
    relay.orch.register(command, "rev-1")
    state = relay.state()
    assert (state["status"], state["agentId"], state["tmuxSession"]) == (
        "running", "rev-1", "relay-reviewer")
    assert relay.inbox("rev-1") == ["one", "two"]  # released in send order

    commits.clear()
    assert relay.tick() == []
    assert commits == []                           # nothing changed: nothing written

    # The agent dies: the reaper marks it offline, the manager counts a failure.
    relay.advance(301)
    relay.call("POST", "/api/system/reap")
    assert relay.tick() == [("reviewer", "fail")]
    state = relay.state()
    assert (state["status"], state["consecutiveFailures"], state["lastError"]) == (
        "backoff", 1, "agent rev-1 is offline")
    assert state["nextAttemptAt"] == relay.clock() + 5000
    relay.clock.advance(4.999)
    assert relay.tick() == []
    relay.clock.advance(0.001)
    assert relay.tick() == [("reviewer", "start")]
    assert relay.state()["restartCount"] == 1

    # Nobody registers: a start timeout, the wait doubles.
    relay.clock.advance(59.999)
    assert relay.tick() == []
    relay.clock.advance(0.001)
    assert relay.tick() == [("reviewer", "fail")]
    state = relay.state()
    assert (state["consecutiveFailures"], state["lastError"], state["nextAttemptAt"]) == (
        2, "start timeout: no agent registered within 60 s", relay.clock() + 8000)  # capped at 8
    relay.advance(8)
    assert relay.tick() == [("reviewer", "start")]      # the third start within 24 h
    relay.clock.advance(60)
    assert relay.tick() == [("reviewer", "fail")]
    state = relay.state()
    assert (state["status"], state["restartsToday"], state["nextAttemptAt"]) == ("failed", 3, None)

    # The daily cap holds, even a day later, until a manual start.
    relay.advance(86400)
    assert relay.tick() == []
    status, started = relay.call("POST", "/api/spawn-policy/reviewer/start")
    assert status == 202
    relay.orch.register(started["command"], "rev-2")
    assert relay.state()["status"] == "running"
    relay.send("three")
    assert relay.inbox("rev-2") == ["three"]

    # Ten healthy minutes reset the failure count.
    relay.clock.advance(599)
    assert relay.tick() == []
    relay.clock.advance(1)
    assert relay.tick() == [("reviewer", "healthy")]
    assert relay.state()["consecutiveFailures"] == 0

    # Deleting the policy shuts its agent down.
    status, deleted = relay.call("DELETE", "/api/spawn-policy/reviewer")
    assert status == 202 and deleted["command"]["type"] == "agent.shutdown"
    assert [c["params"]["agentId"] for c in spawns(relay, "agent.shutdown")] == ["rev-2"]
    assert relay.tick() == []

    _, events = relay.call("GET", "/api/events/recent?limit=500&types=policy.state.changed")
    assert [e["data"]["status"] for e in events] == [
        "starting", "starting", "running", "backoff", "starting", "backoff", "starting", "failed",
        "starting", "running", "running", "stopping"]


def test_on_demand_starts_on_a_queued_message_and_stops_when_idle(relay):
    relay.put(mode="on-demand", idleStopSeconds=60)
    assert relay.tick() == []                      # nothing queued: nothing to run
    relay.send("work")
    assert relay.tick() == [("reviewer", "start")]
    [command] = spawns(relay)
    assert command["params"]["reason"] == "policy-on-demand"
    relay.orch.register(command, "rev-1")
    assert relay.inbox("rev-1") == ["work"]
    relay.clock.advance(30)
    message_id = relay.call("GET", "/api/messages?for=rev-1")[1][0]["id"]
    assert relay.call("POST", f"/api/messages/{message_id}/read", {"agentId": "rev-1"})[0] == 200
    relay.clock.advance(59)
    assert relay.tick() == []                      # read 59 s ago: not idle yet
    relay.clock.advance(1)
    assert relay.tick() == [("reviewer", "stop")]
    [shutdown] = spawns(relay, "agent.shutdown")
    assert (shutdown["params"]["reason"], shutdown["params"]["agentId"]) == ("idle for 60 s", "rev-1")
    assert relay.state()["status"] == "stopping"
    relay.orch.finish(shutdown)
    assert relay.state()["status"] == "stopped"
    assert relay.tick() == []
    relay.send("more")                             # queued again: started again
    assert relay.tick() == [("reviewer", "start")]


def test_offline_orchestrator_is_noted_once_and_nothing_starts(relay, commits):
    relay.put(mode="always")
    relay.clock.advance(301)
    relay.call("POST", "/api/system/reap")
    assert relay.tick() == [("reviewer", "note")]
    assert (relay.state()["status"], relay.state()["lastError"]) == ("stopped",
                                                                     "orchestrator h1 is offline")
    commits.clear()
    assert relay.tick() == [] and commits == []
    relay.orch.heartbeat()
    assert relay.tick() == [("reviewer", "start")]


def test_disabled_and_manual_policies_are_left_alone(relay):
    relay.put("off", mode="always", enabled=False)
    relay.put("hand", mode="manual")
    relay.send("x", to="policy:hand")
    assert relay.tick() == []
    status, started = relay.call("POST", "/api/spawn-policy/hand/start")
    relay.clock.advance(121)
    assert relay.tick() == [("hand", "fail")]
    assert relay.state("hand")["status"] == "failed"     # manual: nothing retries it
    relay.clock.advance(3600)
    assert relay.tick() == []


def test_one_failing_policy_does_not_stop_the_others(relay, monkeypatch, caplog):
    relay.put("bad", mode="always")
    relay.put("good", mode="always")
    real = orchestration.start

    def flaky(c, policy, *args):
        if policy["name"] == "bad":
            raise RuntimeError("boom")
        return real(c, policy, *args)
    monkeypatch.setattr(orchestration, "start", flaky)
    assert relay.tick() == [("good", "start")]
    assert "lifecycle step for spawn policy bad failed" in caplog.text
    assert relay.state("bad")["status"] == "stopped"
    assert relay.state("good")["status"] == "starting"


def test_the_thread_runs_with_the_server(live_factory):
    live = live_factory(lifecycle_tick=0.05)
    orch = FakeOrchestrator(live.port)
    status, _ = live.request("PUT", "/api/spawn-policy/keeper", {**POLICY, "mode": "always"})
    assert status == 201
    deadline = time.monotonic() + 10
    while not orch.poll() and time.monotonic() < deadline:
        time.sleep(0.02)
    [command] = orch.poll()
    assert (command["type"], command["params"]["policyName"]) == ("agent.spawn", "keeper")
    assert live.relay.lifecycle.running
    live.stop()
    assert not live.relay.lifecycle.running


@pytest.mark.parametrize("path", ["/api/spawn-policy/keeper", "/api/config/spawn-policy/keeper"])
def test_a_policy_put_is_planned_at_once_not_at_the_next_tick(live_factory, path):
    live = live_factory(lifecycle_tick=3600)          # no tick comes during the test
    FakeOrchestrator(live.port)
    commands = SSE(live.port, "/api/events?types=command.created")
    try:
        policy = {**POLICY, "mode": "always"}
        body = {"value": policy} if path.startswith("/api/config/") else policy
        assert live.request("PUT", path, body)[0] == 201
        [(_, event)] = commands.events(1)
        assert (event["data"]["type"], event["data"]["params"]["policyName"]) == (
            "agent.spawn", "keeper")
    finally:
        commands.close()

def test_a_policy_whose_plan_fails_is_skipped_alone(relay, monkeypatch, caplog):
    from relay.server import lifecycle
    relay.put("bad", mode="always")
    relay.put("good", mode="always")
    state = lifecycle.policies.state

    def broken(c, name):
        if name == "bad":
            raise RuntimeError("unreadable state")
        return state(c, name)
    monkeypatch.setattr(lifecycle.policies, "state", broken)
    assert relay.tick() == [("good", "start")]
    assert "lifecycle plan for spawn policy bad failed" in caplog.text


def roster(relay, *entries):
    status, orch = relay.call("PATCH", "/api/orchestrators/h1/agents", {"agents": list(entries)})
    assert status == 200, orch


def entry(command, agent_id, status="running", **fields):
    params = command["params"]
    return {"sessionName": f"relay-{agent_id}", "tmuxSession": f"relay-{agent_id}",
            "provider": "claude", "status": status, "agentId": agent_id,
            "policyName": params["policyName"], "spawnRequestId": params["spawnRequestId"],
            **fields}


def test_a_roster_reporting_the_agent_exited_fails_the_policy_at_once(relay):
    relay.put(mode="always", restart={"backoffSeconds": 5})
    assert relay.tick() == [("reviewer", "start")]
    [first] = spawns(relay)
    relay.orch.finish(first, result={"tmuxSession": "relay-rev-1"})
    relay.orch.register(first, "rev-1")
    roster(relay, entry(first, "rev-1"))
    assert relay.state()["status"] == "running"

    # Another policy's exited agent, and an unrelated session: nothing changes.
    roster(relay, entry(first, "rev-1"), {**entry(first, "x-1", "exited"), "policyName": "x",
                                          "spawnRequestId": "sp_x"},
           {"sessionName": "relay-loose", "provider": "codex", "status": "exited"})
    assert relay.state()["status"] == "running"

    # Its session ends: the next roster report fails the run, with no presence timeout.
    roster(relay, entry(first, "rev-1", "exited"))
    state = relay.state()
    assert (state["status"], state["consecutiveFailures"], state["lastError"],
            state["nextAttemptAt"]) == ("backoff", 1, "agent rev-1 exited (tmux session "
                                        "relay-rev-1)", relay.clock() + 5000)
    # Reported again with each heartbeat: the same exit is not a second failure.
    roster(relay, entry(first, "rev-1", "exited"))
    assert relay.state()["consecutiveFailures"] == 1
    relay.clock.advance(5)
    assert relay.tick() == [("reviewer", "start")]
    [second] = [c for c in spawns(relay) if c["id"] != first["id"]]
    # The old run's exit still listed beside the new run starting: not this run's failure.
    roster(relay, entry(first, "rev-1", "exited"), entry(second, "rev-2"))
    assert relay.state()["status"] == "starting"
    relay.orch.register(second, "rev-2")
    assert relay.state()["status"] == "running"

    # The running agent leaves the roster (shut down behind the policy's back): a failure.
    roster(relay, entry(second, "rev-2"))
    roster(relay)
    state = relay.state()
    assert (state["status"], state["consecutiveFailures"], state["lastError"]) == (
        "backoff", 2, "agent rev-2 left the orchestrator's roster")

    _, events = relay.call("GET", "/api/events/recent?limit=500&types=policy.state.changed")
    assert [e["data"]["status"] for e in events] == [
        "starting", "starting", "running", "backoff", "starting", "running", "backoff"]


def test_a_stop_or_a_restart_leaving_the_roster_is_no_failure(relay):
    relay.put(mode="always")
    relay.tick()
    [first] = spawns(relay)
    relay.orch.register(first, "rev-1")
    roster(relay, entry(first, "rev-1"))
    # A restart keeps the spawn request: between the old session and the new one the
    # roster may be empty, and the state is starting, not running.
    assert relay.call("POST", "/api/spawn-policy/reviewer/restart")[0] == 202
    roster(relay)
    assert relay.state()["status"] == "starting"
    relay.orch.register(first, "rev-1")
    roster(relay, entry(first, "rev-1"))
    assert relay.state()["status"] == "running"
    # A stop: stopping, then stopped by the command; the roster drop is expected.
    assert relay.call("POST", "/api/spawn-policy/reviewer/stop")[0] == 202
    roster(relay)
    [shutdown] = spawns(relay, "agent.shutdown")
    relay.orch.finish(shutdown)
    state = relay.state()
    assert (state["status"], state["consecutiveFailures"]) == ("stopped", 0)


def test_a_spawned_agent_exiting_before_it_registers_fails_the_start(relay):
    relay.put(mode="always", startTimeoutSeconds=120)
    relay.tick()
    [command] = spawns(relay)
    relay.orch.finish(command, result={"tmuxSession": "relay-rev-1"})
    roster(relay, entry(command, "rev-1"))
    roster(relay, entry(command, "rev-1", "exited"))
    state = relay.state()
    assert (state["status"], state["lastError"]) == (
        "backoff", "agent rev-1 exited (tmux session relay-rev-1)")


def test_the_old_process_going_offline_during_a_restart_does_not_run_the_policy(relay):
    relay.put(mode="manual")
    assert relay.call("POST", "/api/spawn-policy/reviewer/start")[0] == 202
    [command] = spawns(relay)
    agent = relay.orch.register(command, "rev-1")
    assert relay.call("POST", "/api/spawn-policy/reviewer/restart")[0] == 202
    # The old process exits (a restart keeps the spawn request and the agent id), saying so.
    status, _ = relay.call("PATCH", "/api/agents/rev-1", {"status": "offline",
                                                          "instanceId": agent["instanceId"]})
    assert status == 200
    assert relay.state()["status"] == "starting"
    assert relay.tick() == []
    relay.orch.register(command, "rev-1")          # the new process
    assert relay.state()["status"] == "running"
    assert relay.tick() == []

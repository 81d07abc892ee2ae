"""The spawn-policy lifecycle manager and the thread that runs it.

Every tick it looks at each enabled policy on a read connection and plans
at most one step for it (start, a failure, an idle stop, ...). Only a
policy with a step to take is committed, and its change plans again on the
write connection before acting, so a route that moved the state meanwhile
wins and nothing is done twice. A tick where nothing is due writes nothing.
One policy whose step fails is logged; the others still run.
"""

from .domain import orchestration
from .domain.errors import Refused
from .worker import Periodic
from .store import agents, orchestrators, policies


HEALTHY_MS = 600_000       # a run this long resets consecutiveFailures


def plan(c, policy: dict, now: int) -> tuple[str, str | None] | None:
    """The one step due for a policy now, as (action, detail), or None."""
    if not policy.get("enabled", True):
        return None
    name, mode = policy["name"], policy.get("mode", "manual")
    state = policies.state(c, name)
    status = state["status"] if state else "stopped"
    timeout = policy.get("startTimeoutSeconds", 120)
    if status == "starting":
        if (state["lastSpawnAt"] or 0) + timeout * 1000 <= now:
            return "fail", f"start timeout: no agent registered within {timeout} s"
        return None
    if status == "stopping":
        if (state["lastStopAt"] or 0) + timeout * 1000 <= now:
            return "stopped", f"shutdown not confirmed within {timeout} s"
        return None
    if status == "running":
        return plan_running(c, policy, state, now)
    if status == "failed" or mode == "manual":
        return None
    if status == "backoff" and (state["nextAttemptAt"] or 0) > now:
        return None
    if mode == "on-demand" and not policies.has_queued(c, name, now):
        return None
    orch = orchestrators.get(c, policy["orchestratorId"])
    if orch is None or orch["status"] != "online":
        why = f"orchestrator {policy['orchestratorId']} is " + (orch["status"] if orch else "unknown")
        return ("note", why) if (state or {}).get("lastError") != why else None
    cap = (policy.get("restart") or {}).get("maxPerDay", 10)
    if policies.starts_within_day(c, name, now) >= cap:
        return "cap", f"restart.maxPerDay reached: {cap} starts within 24 h"
    reason = {"backoff": "retry-after-failure", "stopped": f"policy-{mode}"}[status]
    return "start", reason


def plan_running(c, policy: dict, state: dict, now: int):
    agent = agents.get(c, state["agentId"]) if state["agentId"] else None
    if agent is None or agent["status"] == "offline":
        return "fail", f"agent {state['agentId']} is " + ("offline" if agent else "gone")
    if policy.get("mode") == "on-demand":
        idle = policy.get("idleStopSeconds", 900)
        last = policies.last_activity(c, policy["name"]) or state["healthySince"] or 0
        if last + idle * 1000 <= now:
            return "stop", f"idle for {idle} s"
    if state["consecutiveFailures"] and (state["healthySince"] or now) + HEALTHY_MS <= now:
        return "healthy", None
    return None


def apply(c, name: str, now: int) -> tuple[str | None, list]:
    """Take the step due for policy `name`, planned again inside the write."""
    policy = policies.get(c, name)
    step = plan(c, policy, now) if policy else None
    if step is None:
        return None, []
    action, detail = step
    try:
        if action == "start":
            _, events = orchestration.start(c, policy, detail, "lifecycle", now)
        elif action == "stop":
            _, events = orchestration.stop(c, policy, "shutdown", detail, now)
        else:
            state, title = {
                "fail": lambda: (policies.fail(c, name, policy, detail, now), "failure"),
                "stopped": lambda: (policies.mark_stopped(c, name, now, detail), "stopped"),
                "healthy": lambda: (policies.reset_failures(c, name, now), "healthy for 10 min"),
                "note": lambda: (policies.note_error(c, name, detail, now), "cannot start"),
                "cap": lambda: (policies.give_up(c, name, detail, now), "failed"),
            }[action]()
            events = orchestration.state_changed(c, state, title, now)
    except Refused as error:
        # The spawn cannot be made (cwd outside baseDir, provider gone): say why, once.
        if (policies.state(c, name) or {}).get("lastError") == error.message:
            return None, []
        state = policies.note_error(c, name, error.message, now)
        return "note", orchestration.state_changed(c, state, "cannot start", now)
    return action, events


class Lifecycle(Periodic):
    name = "relay-lifecycle"

    def __init__(self, relay, tick: float):
        super().__init__(tick, relay.clock)
        self.relay = relay

    def committed(self, stored) -> None:
        """Committer listener (and the event tail's, for other processes' commits):
        a policy written or deleted is planned now, not at the next tick."""
        if any(envelope["type"] == "config.changed"
               and envelope["data"]["namespace"] == policies.NAMESPACE
               for envelope, _ in stored):
            self.wake()

    def run_once(self) -> list[tuple[str, str]]:
        """One pass over the policies now; answers the (policy, action) steps taken."""
        with self._run_lock:
            now = self.relay.clock()
            connections = self.relay.connections
            c = connections.acquire()
            try:
                due = [p["name"] for p in policies.listing(c) if self._due(c, p, now)]
            finally:
                connections.release(c)
            taken = []
            for name in due:
                action = self.step(f"lifecycle step for spawn policy {name}",
                                   self.relay.committer.commit, lambda w: apply(w, name, now))
                if action:
                    taken.append((name, action))
            return taken

    def _due(self, c, policy: dict, now: int) -> bool:
        step = self.step(f"lifecycle plan for spawn policy {policy.get('name')}",
                         lambda: (plan(c, policy, now),))
        return step is not None and step[0] is not None

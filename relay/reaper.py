"""The reap cycle (API.md §11) and the thread that runs it every interval.

Each step is its own change (its own commit, its events streamed after
it); a step that fails is logged and the others still run.
"""
import logging

from . import acks, recipe_runs
from .events import (activity_event, agent_event, agent_removed, command_event, delivery_events,
                     message_event, orchestrator_event, pair_updated, task_event)
from .periodic import Periodic
from .retention import Retention
from .store import (activity, agents, commands, deliveries, delivery, events as event_log,
                    messages, orchestrators, pairs, recipes, tasks)

log = logging.getLogger("relay.reaper")


class Reaper(Periodic):
    name = "relay-reaper"

    def __init__(self, relay, interval: float):
        super().__init__(interval)
        self.relay = relay
        self.retention = Retention(relay)
        self.last_reap_at: int | None = None

    # --- the steps: (conn, now) -> (report fragment, events) -------------------

    def release_claims(self, conn, now):
        released = messages.release_expired_claims(conn, now)
        return ({"releasedMessageIds": [m["id"] for m in released]},
                [message_event("message.claim_released", m) for m in released])

    def expire_queued(self, conn, now):
        expired = messages.expire_queued(conn, now)
        return ({"expiredQueuedMessageIds": [m["id"] for m in expired]},
                [message_event("message.expired", m) for m in expired])

    def ack_deadlines(self, conn, now):
        # Receipts past their deadline: redelivered, or overdue and escalated.
        return acks.reap(conn, now)

    def mark_stale(self, conn, now):
        changed = agents.mark_stale(conn, now, int(self.relay.settings.stale_after * 1000))
        return {"staleAgentIds": [a["id"] for a in changed]}, self._presence(conn, changed, now)

    def mark_offline(self, conn, now):
        changed = agents.mark_offline(conn, now, int(self.relay.settings.offline_after * 1000))
        return {"offlineAgentIds": [a["id"] for a in changed]}, self._presence(conn, changed, now)

    def prune(self, conn, now):
        pruned = agents.prune(conn, now, int(self.relay.settings.prune_after * 1000))
        events = []
        for agent_id in pruned:
            events += [message_event("message.claim_released", m)
                       for m in messages.release_claims_of(conn, agent_id)]
            events += [task_event("task.updated", t)
                       for t, _ in tasks.release_claims_of(conn, agent_id, now)]
            events += delivery_events(delivery.on_agent_status(conn, agent_id, None))
            events.append(agent_removed(agent_id))
        return {"prunedAgentIds": pruned}, events

    def trim_events(self, conn, now):
        settings = self.relay.settings
        older_than = now - int(settings.event_retention_seconds * 1000)
        return {"trimmedEvents": event_log.trim(conn, settings.event_retention, older_than)}, []

    def release_task_claims(self, conn, now):
        released = [task for task, _ in tasks.release_expired_claims(conn, now)]
        return ({"releasedTaskIds": [t["id"] for t in released]},
                [task_event("task.updated", t) for t in released])

    def release_orphaned_tasks(self, conn, now):
        released = [task for task, _ in tasks.release_orphaned(conn, now)]
        return ({"releasedOrphanedTaskIds": [t["id"] for t in released]},
                [task_event("task.updated", t) for t in released])

    def trim_deliveries(self, conn, now):
        # Finished callback deliveries are kept as long as events are.
        older_than = now - int(self.relay.settings.event_retention_seconds * 1000)
        return {"trimmedDeliveries": deliveries.trim(conn, older_than)}, []

    def expire_pairs(self, conn, now):
        expired = pairs.expire(conn, now)
        return {"expiredPairIds": [p["id"] for p in expired]}, [pair_updated(p) for p in expired]

    def expire_commands(self, conn, now):
        expired = commands.expire(conn, now)
        return ({"expiredCommandIds": [c["id"] for c in expired]},
                [command_event("command.updated", c) for c in expired])

    def mark_orchestrators_stale(self, conn, now):
        changed = orchestrators.mark_stale(conn, now, int(self.relay.settings.stale_after * 1000))
        return ({"staleOrchestratorIds": [o["id"] for o in changed]},
                [orchestrator_event(o) for o in changed])

    def mark_orchestrators_offline(self, conn, now):
        changed = orchestrators.mark_offline(conn, now, int(self.relay.settings.offline_after * 1000))
        return ({"offlineOrchestratorIds": [o["id"] for o in changed]},
                [orchestrator_event(o) for o in changed])

    def expire_recipe_roles(self, conn, now):
        # After expire_commands: a recipe role whose command expired unanswered fails.
        events = [e for command in recipes.expired_commands(conn)
                  for e in recipe_runs.on_command(conn, command, now)]
        return {"failedRecipeInstanceIds": list(dict.fromkeys(e.subject for e in events))}, events

    def _presence(self, conn, changed, now):
        events = []
        for agent in changed:
            entry, _ = activity.add(conn, {"kind": "state", "agentId": agent["id"],
                                           "title": f"{agent['id']} is {agent['status']}"}, now)
            events += [*delivery_events(delivery.on_agent_status(conn, agent["id"], agent)),
                       agent_event("agent.status", agent), activity_event(entry)]
        return events

    def steps(self):
        return [self.release_claims, self.expire_queued, self.ack_deadlines, self.mark_stale, self.mark_offline,
                self.prune, self.trim_events, self.release_task_claims,
                self.release_orphaned_tasks, self.trim_deliveries, self.expire_pairs,
                self.expire_commands, self.mark_orchestrators_stale,
                self.mark_orchestrators_offline, self.expire_recipe_roles]

    # --- running ---------------------------------------------------------------

    def run_once(self) -> dict:
        """One reap cycle now; answers what changed."""
        with self._run_lock:
            now = self.relay.clock()
            report = {}
            for step in self.steps():
                try:
                    report.update(self.relay.committer.commit(lambda c: step(c, now)))
                except Exception:
                    log.exception("reap step %s failed", step.__name__)
            report.update(self.retention.run(now))
            self.last_reap_at = now
            return report

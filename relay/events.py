"""Events: what a change tells the world, and whom it concerns.

A change returns its events to the committer, which records them in the
change's own transaction and fans them out after COMMIT (committer.py). A
stream subscribes before it replays from the log, which makes resume
gap-free; ids it has already replayed are skipped when they arrive live.
"""
from dataclasses import dataclass

# Every event type the relay emits (README "Events"), published in the OpenAPI
# document as the EventType schema so that clients such as the dashboard read it
# from there; a test checks that every type the code emits is listed.
EVENT_TYPES = (
    "agent.status", "agent.removed", "message.new", "message.queued", "message.available",
    "message.expired", "message.claimed", "message.claim_released", "message.read",
    "message.deleted", "message.acked", "message.redelivered", "message.ack_overdue",
    "task.created", "task.updated", "task.event", "task.deleted", "channel.activity",
    "pool.binding.changed", "pair.updated", "orchestrator.status", "orchestrator.removed",
    "command.created", "command.updated", "config.changed", "policy.state.changed",
    "recipe.instance.updated", "activity.created", "system.broadcast")


@dataclass
class Event:
    type: str
    subject: str | None
    data: dict
    scope: dict | None = None          # {"to": address, "agents": [...]}: whom it concerns
    source: str = "server"


def agent_event(type_: str, agent: dict) -> Event:
    return Event(type_, agent["id"], agent, {"agents": [agent["id"]]})


def agent_removed(agent_id: str) -> Event:
    return Event("agent.removed", agent_id, {"agentId": agent_id}, {"agents": [agent_id]})


def message_scope(message: dict) -> dict:
    agents = [a for a in (message["from"], message.get("resolvedToAgent"),
                          message.get("claimedBy")) if a]
    return {"to": message["to"], "agents": agents}


def message_event(type_: str, message: dict, source: str = "server") -> Event:
    return Event(type_, str(message["id"]), message, message_scope(message), source)


def message_deleted(message: dict) -> Event:
    # Deletions carry only the id; the scope still says whom it concerned.
    return Event("message.deleted", str(message["id"]), {"messageId": message["id"]},
                 message_scope(message))


def receipt_event(type_: str, about: dict, receipt: dict, **extra) -> Event:
    """message.acked, message.redelivered (with the message), message.ack_overdue
    (with escalationMessageId): {messageId, agentId, deliveryCount, receipt}; they
    concern the sender and that recipient."""
    data = {"messageId": receipt["messageId"], "agentId": receipt["agentId"],
            "deliveryCount": receipt["deliveryCount"], "receipt": receipt, **extra}
    return Event(type_, str(about["id"]), data,
                 {"agents": list(dict.fromkeys([about["from"], receipt["agentId"]]))})


def activity_event(entry: dict) -> Event:
    scope = {"agents": [entry["agentId"]]} if entry.get("agentId") else None
    return Event("activity.created", str(entry["id"]), entry, scope)


def delivery_events(result: dict) -> list[Event]:
    """Events for store.delivery.on_agent_online's result, in the reference's order."""
    events = []
    name = result["policyName"]
    if name:
        events.append(Event("policy.state.changed", name, result["policyState"]))
        delivered = result["policyMessages"]
        if delivered:
            agent_id = result["policyState"]["agentId"]
            events.append(Event("message.available", "policy:" + name,
                                {"policyName": name, "agentId": agent_id,
                                 "messageIds": [m["id"] for m in delivered],
                                 "count": len(delivered)},
                                {"agents": [agent_id]}))
            events += [message_event("message.new", m, m["from"]) for m in delivered]
        events.append(activity_event(result["policyActivity"]))
    events += [message_event("message.new", m, m["from"]) for m in result["poolMessages"]]
    return events + pool_events(result["poolChanges"])


def task_scope(task: dict) -> dict:
    return {"to": task["target"], "agents": [task["claimedBy"]] if task["claimedBy"] else []}


def task_event(type_: str, task: dict) -> Event:
    """task.created / task.updated: the task itself."""
    return Event(type_, str(task["id"]), task, task_scope(task))


def task_history_event(task: dict, entry: dict) -> Event:
    """task.event: one entry of the task's history (a duplicate, a progress note)
    and the task as it is after it."""
    return Event("task.event", str(task["id"]), {"taskId": task["id"], "event": entry,
                                                  "task": task}, task_scope(task))


def task_deleted(task: dict) -> Event:
    return Event("task.deleted", str(task["id"]), {"taskId": task["id"]}, task_scope(task))



def pool_events(changes: list[dict]) -> list[Event]:
    """pool.binding.changed for each pool an agent joined, left, or went on/offline in."""
    return [Event("pool.binding.changed", c["pool"], c, {"agents": [c["agentId"]]})
            for c in changes]


def channel_activity(channel_id: str, action: str, detail: dict, at: int) -> Event:
    """channel.activity: {channel, action, at, ...}; action is binding.added,
    bindings.replaced, binding.removed or event.routed."""
    return Event("channel.activity", channel_id,
                 {"channel": channel_id, "action": action, "at": at, **detail})


def channel_routed(channel_id: str, result: dict, at: int) -> list[Event]:
    """An inbound event's messages (queued ones as message.queued), then channel.activity."""
    sent = [message_event("message.queued" if m["deliveryStatus"] == "queued" else "message.new",
                          m, m["from"]) for m in result["messages"]]
    return sent + [channel_activity(channel_id, "event.routed",
                                    {"messageIds": [m["id"] for m in result["messages"]],
                                     "routes": result["routes"]}, at)]


def pair_updated(pair: dict) -> Event:
    return Event("pair.updated", str(pair["id"]), pair, {"agents": [pair["from"], pair["to"]]})




def command_event(type_: str, command: dict) -> Event:
    return Event(type_, command["id"], command, {"agents": [command["target"]]})


def config_changed(entry: dict, action: str) -> Event:
    return Event("config.changed", f"{entry['namespace']}:{entry['key']}",
                 {"namespace": entry["namespace"], "key": entry["key"],
                  "version": entry["version"], "action": action})


def orchestrator_event(orchestrator: dict) -> Event:
    return Event("orchestrator.status", orchestrator["id"], orchestrator,
                 {"agents": [orchestrator["agentId"]]})


def orchestrator_removed(orchestrator: dict) -> Event:
    return Event("orchestrator.removed", orchestrator["id"], {"orchestratorId": orchestrator["id"]},
                 {"agents": [orchestrator["agentId"]]})


def recipe_instance_event(instance: dict) -> Event:
    # Not in API.md §10 (silent on recipes): a recipe instance's status or a role moved.
    return Event("recipe.instance.updated", instance["id"], instance)

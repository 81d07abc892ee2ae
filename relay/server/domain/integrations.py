"""Integrations (README: Bridging a Slack channel): their tokens, and what an event from an
outside system does: opens (or folds into) a task, or, naming a channel, is
routed through the channel's bindings."""
from ..store import integrations
from . import channels, tasks
from .errors import Conflict, NotFound

def create(c, name: str, scopes: list[str], secret: str | None, t: int):
    made = integrations.create(c, name, list(dict.fromkeys(scopes)), secret, t)
    if made is None:
        raise Conflict(f"integration {name} already exists")
    return made, []


def delete(c, name: str):
    origin = integrations.origin(c, name)
    if origin is None:
        raise NotFound(f"integration {name} not found")
    if origin == "env":
        raise Conflict(f"integration {name} comes from RELAY_INTEGRATION_TOKENS: remove it there")
    integrations.delete(c, name)
    return {"ok": True}, []


def event(relay, name: str | None, fields: dict, t: int):
    """POST /api/integrations/events: ((task or routing, created)). `fields` are the
    event's (type, channel, title, body, ... as the schema names them); the rate
    limit is the caller's (auth.py)."""
    counted = (lambda c: integrations.count_event(c, name, t)) if name else None
    if fields.get("channel") is not None:
        inbound = {"from": name or "integration", "subject": fields["title"],
                   "body": fields.get("body") or fields["title"],
                   "payload": {**(fields.get("payload") or {}), "type": fields["type"],
                               "severity": fields.get("severity"),
                               "source": fields.get("source") or name},
                   "idempotencyKey": fields.get("dedupeKey")}
        return relay.committer.commit(
            lambda c: channels.inbound(c, fields["channel"], inbound, t, counted), ordered=True)
    task = {k: v for k, v in fields.items() if k not in ("type", "channel")}
    task["source"] = task.get("source") or name
    task["meta"] = {**(task.get("meta") or {}), "eventType": fields["type"]}
    tasks.checked_callback(relay.outbound, task, name)

    def change(c):
        if counted is not None:
            counted(c)
        return tasks.open_task(c, task, name, t)
    return relay.committer.commit(change, ordered=bool(task.get("target")))

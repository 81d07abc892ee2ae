"""Integrations (API.md §5): their tokens, and the events they send."""
from flask import Blueprint, g

from ..auth import rate_limit
from ..contract import route
from ..events import channel_routed
from ..schemas.channels import ChannelEventResult
from ..schemas.common import Ok
from ..schemas.integrations import (CreatedIntegration, Integration, IntegrationEventIn,
                                    IntegrationIn)
from ..schemas.tasks import Task
from ..store import channels, integrations
from . import answer, commit, conn, now
from .tasks import open_task

bp = Blueprint("integrations", __name__, url_prefix="/api/integrations")

RELAY_TOKEN = "relay"      # the rate-limit key of callers with the relay token (or none)


@route(bp, "POST", "", "Create an integration. Its token is answered this once; only its "
       "sha256 is stored. With a secret, the callbacks of the tasks it opens are signed "
       "(X-Relay-Signature: sha256=<hex HMAC-SHA256 of the body>). Relay token only.",
       body=IntegrationIn, answers={201: CreatedIntegration, 403: "an integration token",
                                    409: "the name is taken"})
def create_integration(body: IntegrationIn):
    t = now()
    scopes = list(dict.fromkeys(body.scopes))
    integration, token = commit(lambda c: (
        integrations.create(c, body.name, scopes, body.secret, t), []))
    return answer({"integration": integration, "token": token}, 201)


@route(bp, "GET", "", "Integration summaries, by name (tokens and secrets are never shown). "
       "Relay token only.", answers={200: [Integration], 403: "an integration token"})
def list_integrations():
    return answer(integrations.listing(conn()))


@route(bp, "DELETE", "/<name:name>", "Delete an integration: its token stops working at once. "
       "Those from RELAY_INTEGRATION_TOKENS are removed there (409). Relay token only.",
       answers={200: Ok, 403: "an integration token", 404: "unknown integration",
                409: "defined by RELAY_INTEGRATION_TOKENS"})
def delete_integration(name):
    commit(lambda c: (integrations.delete(c, name), []))
    return answer({"ok": True})


@route(bp, "POST", "/events", "An event from an outside system (integration token with "
       "events:write, or the relay token): it opens a task, or folds into the live task with "
       "its dedupeKey (200), as POST /api/tasks does; type is kept as meta.eventType and "
       "source defaults to the integration's name. Each token may send "
       "RELAY_INTEGRATION_RATE_LIMIT events a minute (callers with the relay token share one "
       "allowance): past it 429 with Retry-After. With a channel it opens no task: it is "
       "routed through that channel's bindings as POST /api/channels/:id/events routes an "
       "inbound event (201 {messages, routes}; from is the integration's name, or "
       "`integration`; subject the title; body the body, or the title; payload the payload "
       "with type, severity and source; dedupeKey is the idempotencyKey: a repeat answers "
       "the first routing, 200). A policy: binding queues until the policy's agent runs.",
       body=IntegrationEventIn,
       answers={201: (Task, ChannelEventResult), 200: (Task, ChannelEventResult),
                403: "a token without events:write",
                404: "unknown target agent, pool or policy, or unknown channel",
                422: "no inbound binding of the channel routes the event",
                429: "rate limit: see Retry-After"})
def integration_event(body: IntegrationEventIn):
    name = g.get("integration")
    t = now()
    if name is None:               # an integration's every request is counted (auth.py)
        rate_limit(RELAY_TOKEN, "events")
    if body.channel is not None:
        return to_channel(body, name, t)
    fields = body.model_dump(exclude={"type", "channel"})
    fields["source"] = fields["source"] or name
    fields["meta"] = {**(fields["meta"] or {}), "eventType": body.type}
    task, created = open_task(
        fields, also=(lambda c: integrations.count_event(c, name, t)) if name else None)
    return answer(task, 201 if created else 200)


def to_channel(body: IntegrationEventIn, name: str | None, t: int):
    """An integration event that names a channel: a channel.event message per binding."""
    event = {"from": name or "integration", "subject": body.title, "body": body.body or body.title,
             "payload": {**(body.payload or {}), "type": body.type, "severity": body.severity,
                         "source": body.source or name},
             "idempotencyKey": body.dedupeKey}

    def change(c):
        result, created = channels.route_event(c, body.channel, event, t)
        if name and created:
            integrations.count_event(c, name, t)
        return (result, created), channel_routed(body.channel, result, t) if created else []
    result, created = commit(change)
    return answer(result, 201 if created else 200)

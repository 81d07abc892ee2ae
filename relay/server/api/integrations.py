"""Integrations: their tokens, and the events they send."""
from flask import Blueprint, g

from ..auth import rate_limit
from ..contract import route
from ..domain import integrations as domain
from ..schemas.channels import ChannelEventResult
from ..schemas.common import Ok
from ..schemas.integrations import (CreatedIntegration, Integration, IntegrationEventIn,
                                    IntegrationIn)
from ..schemas.tasks import Task
from ..store import integrations
from . import answer, commit, conn, now, relay

bp = Blueprint("integrations", __name__, url_prefix="/api/integrations")

RELAY_TOKEN = "relay"      # the rate-limit key of callers with the relay token (or none)


@route(bp, "POST", "", "Create an integration. Its token is answered this once; only its "
       "sha256 is stored. With a secret, the callbacks of the tasks it opens are signed "
       "(X-Relay-Signature: sha256=<hex HMAC-SHA256 of the body>). Relay token only.",
       body=IntegrationIn, answers={201: CreatedIntegration, 403: "an integration token",
                                    409: "the name is taken"})
def create_integration(body: IntegrationIn):
    t = now()
    integration, token = commit(lambda c: domain.create(c, body.name, body.scopes, body.secret, t))
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
    return answer(commit(lambda c: domain.delete(c, name)))


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
    name, t = g.get("integration"), now()
    if name is None:               # an integration's every request is counted (auth.py)
        rate_limit(RELAY_TOKEN, "events")
    result, created = domain.event(relay(), name, body.model_dump(), t)
    return answer(result, 201 if created else 200)

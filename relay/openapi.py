"""The OpenAPI 3.1 document served at GET /api/spec.

Routes are listed once, compactly, in ROUTES; a test holds this list and the
app's URL map to each other. Where API.md is silent, the choice made is
written into the route's description.
"""
from . import __version__

S, I, B, O, A = ({"type": "string"}, {"type": "integer"}, {"type": "boolean"},
                 {"type": "object"}, {"type": "array", "items": {"type": "string"}})


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def listing(name: str) -> dict:
    return {"type": "array", "items": ref(name)}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": S, "requestId": S}},
    "Agent": {"type": "object", "properties": {
        "id": S, "name": S, "kind": {"enum": ["provider", "channel", "orchestrator", "system", "user"]},
        "label": S, "tags": A, "capabilities": A, "machine": S, "rig": S, "cwd": S,
        "status": {"enum": ["online", "idle", "busy", "stale", "offline"]}, "ready": B,
        "instanceId": S, "epoch": I, "meta": O, "lastSeen": I, "createdAt": I, "updatedAt": I}},
    "AgentInput": {"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9._:@+-]{1,240}$"}, "name": S, "kind": S,
        "label": S, "tags": A, "capabilities": A, "machine": S, "rig": S, "cwd": S, "status": S,
        "ready": B, "instanceId": S, "meta": O}},
    "Message": {"type": "object", "properties": {
        "id": I, "from": S, "to": S, "kind": S, "subject": S, "body": S, "payload": O, "meta": O,
        "channel": S, "replyTo": I, "threadId": I, "claimable": B, "claimTtlSeconds": I,
        "claimedBy": S, "claimedAt": I, "claimExpiresAt": I, "idempotencyKey": S, "readBy": A,
        "deliveryStatus": {"enum": ["delivered", "queued", "expired"]}, "resolvedToAgent": S,
        "expiresAt": I, "createdAt": I}},
    "MessageInput": {"type": "object", "required": ["from", "to", "body"], "properties": {
        "from": S, "to": {"type": "string", "description":
                          "<agentId>, broadcast, label:, tag:, cap:, pool:, policy:, orchestrator:"},
        "body": {"type": "string", "maxLength": 65536}, "kind": S, "subject": S, "payload": O,
        "meta": O, "channel": S, "replyTo": I, "claimable": B,
        "claimTtlSeconds": {"type": "integer", "minimum": 1, "maximum": 86400},
        "maxAgeSeconds": {"type": "integer", "minimum": 0, "maximum": 2592000},
        "idempotencyKey": S}},
    "Event": {"type": "object", "properties": {
        "id": I, "type": S, "source": S, "subject": S, "time": I, "data": O}},
    "Activity": {"type": "object", "properties": {
        "id": I, "clientId": S, "kind": S, "title": S, "body": S, "icon": S, "view": S,
        "agentId": S, "meta": O, "createdAt": I}},
    "ActivityInput": {"type": "object", "required": ["kind", "title"], "properties": {
        "clientId": S, "kind": {"enum": ["state", "message", "task", "command", "system", "note"]},
        "title": S, "body": S, "icon": S, "view": S, "agentId": S, "meta": O}},
    "AgentAct": {"type": "object", "required": ["agentId"], "properties": {
        "agentId": S, "instanceId": S, "epoch": I, "ttlSeconds": I}},
}

LIST_PARAMS = ["limit", "since", "before"]

# (method, path, summary, query parameters, request body schema, {status: description or schema})
ROUTES = [
    ("GET", "/api/health", "Health (no auth). 503 when the database cannot be read. "
     "status is degraded when the reap thread is overdue by three periods.", [], None,
     {200: "health", 503: "database unreadable"}),
    ("GET", "/api/spec", "This OpenAPI document (no auth).", [], None, {200: "the document"}),
    ("GET", "/api/stats", "Counts of messages by kind, agents by status, tasks by status, queued.",
     [], None, {200: "stats"}),
    ("POST", "/api/system/reap", "Run the reap cycle now; answers what changed (one list per "
     "step that exists: releasedMessageIds, expiredQueuedMessageIds, staleAgentIds, "
     "offlineAgentIds, prunedAgentIds, trimmedEvents).", [], None, {200: "what changed"}),
    ("POST", "/api/system/broadcast", "A broadcast message of kind system; emits message.new "
     "and system.broadcast.", [], {"type": "object", "required": ["body"],
                                   "properties": {"body": S, "subject": S, "from": S}},
     {201: ref("Message"), 400: "bad input"}),

    ("POST", "/api/agents", "Register or update an agent (upsert by id). A new instanceId bumps "
     "epoch. Fields left out of an update keep their value; status defaults to online.", [],
     ref("AgentInput"), {200: ref("Agent"), 201: ref("Agent"), 400: "bad input"}),
    ("GET", "/api/agents", "List agents, ordered by id.",
     ["status", "kind", "tag", "capability", "label", "includeOffline"], None,
     {200: listing("Agent")}),
    ("GET", "/api/agents/{agent_id}", "One agent.", [], None, {200: ref("Agent"), 404: "unknown"}),
    ("PATCH", "/api/agents/{agent_id}", "Change status, ready, label (null clears it), tags, "
     "capabilities, meta (merged). Session guard applies.", [], ref("AgentInput"),
     {200: ref("Agent"), 404: "unknown", 409: "stale agent session"}),
    ("POST", "/api/agents/{agent_id}/heartbeat", "Presence. A stale or offline agent is back "
     "online. agent.status is emitted only when the status changes, not for every beat.", [],
     {"type": "object", "properties": {"instanceId": S, "epoch": I, "status": S}},
     {200: ref("Agent"), 404: "unknown: re-register", 409: "stale agent session"}),
    ("DELETE", "/api/agents/{agent_id}", "Remove an agent; its message claims are released.",
     [], None, {200: "ok", 404: "unknown"}),

    ("POST", "/api/activity", "Add an activity entry; a repeated clientId is stored once "
     "(200 with the first).", [], ref("ActivityInput"),
     {200: ref("Activity"), 201: ref("Activity"), 400: "bad input"}),
    ("GET", "/api/activity", "The feed, newest first.", ["kind", "agentId", "before", "limit"],
     None, {200: listing("Activity")}),

    ("POST", "/api/messages", "Send. 201, or 200 with the first message when the sender reused "
     "an idempotencyKey. Sending counts as presence for `from` when it is a registered agent "
     "(recorded at 5 s granularity); `from` need not be registered.", [], ref("MessageInput"),
     {200: ref("Message"), 201: ref("Message"), 400: "bad input", 404: "unknown target"}),
    ("GET", "/api/messages", "With for=<agentId>: that agent's inbox, ascending from since "
     "(poll; wait=0-60 holds it until a message arrives). Presence from polls is recorded at "
     "5 s granularity. Without for: recent messages, newest first.",
     ["for", "unread", "kind", "channel", "wait", "from", "to"] + LIST_PARAMS, None,
     {200: listing("Message"), 404: "unknown agent", 503: "no stream slot for wait"}),
    ("GET", "/api/messages/cursor", "The highest message id.", [], None, {200: "latestId"}),
    ("GET", "/api/messages/queued", "Messages queued for a pool: or policy: address, oldest "
     "first.", ["for", "limit"], None, {200: listing("Message")}),
    ("POST", "/api/messages/read", "Mark many read for agentId; answers the ids that changed.",
     [], {"type": "object", "required": ["agentId", "ids"],
          "properties": {"agentId": S, "ids": {"type": "array", "items": I}}},
     {200: "ok", 404: "unknown message or agent"}),
    ("GET", "/api/messages/{message_id}", "One message.", [], None,
     {200: ref("Message"), 404: "unknown"}),
    ("DELETE", "/api/messages/{message_id}", "Delete a message.", [], None,
     {200: "ok", 404: "unknown"}),
    ("GET", "/api/messages/{message_id}/thread", "The whole thread, oldest first.", [], None,
     {200: listing("Message"), 404: "unknown"}),
    ("GET", "/api/messages/{message_id}/status", "Delivery and claim status.", [], None,
     {200: "status", 404: "unknown"}),
    ("POST", "/api/messages/{message_id}/claim", "Claim exactly once (one conditional UPDATE). "
     "The claiming agent must be registered; the holder re-claiming extends. A queued or "
     "expired message cannot be claimed (409).", [], ref("AgentAct"),
     {200: ref("Message"), 400: "not claimable", 404: "unknown", 409: "already claimed"}),
    ("POST", "/api/messages/{message_id}/release", "The holder gives a claim back.", [],
     ref("AgentAct"), {200: ref("Message"), 404: "unknown", 409: "not held by this agent"}),
    ("POST", "/api/messages/{message_id}/read", "Mark read for agentId (idempotent).", [],
     ref("AgentAct"), {200: ref("Message"), 404: "unknown"}),

    ("GET", "/api/events", "Server-Sent Events; resume with Last-Event-ID or since. A first "
     "frame `event: reset` means the asked id is older than retention (what is kept follows); "
     "a slow consumer gets `event: reset` and is disconnected.", ["agentId", "types", "since"],
     None, {200: "text/event-stream", 404: "unknown agent", 503: "no stream slot"}),
    ("GET", "/api/events/recent", "Logged events as JSON, ascending from since. With agentId, "
     "only what concerns that agent: messages addressed to it (groups matched by its current "
     "tags, label and capabilities), sent by it, resolved to it or claimed by it, and its own "
     "status.",
     ["since", "limit", "types", "agentId"], None, {200: listing("Event")}),
    ("GET", "/api/ws", "WebSocket. Client frames: subscribe {agentId?, types?, since?}, send "
     "{message}, heartbeat {agentId, instanceId?, epoch?, status?}, ping. Server frames: event "
     "{event}, ack (subscribed | message with created | agent), error {error, status: the HTTP "
     "status the same call would get}, pong; each echoes the frame's id. A new subscribe "
     "replaces the last. A slow subscriber gets an event of type reset and the connection "
     "closes.", [], None, {101: "switching protocols", 503: "no stream slot"}),
]

PARAM_DESCRIPTIONS = {
    "limit": "1-500, default 100", "since": "exclusive lower id bound",
    "before": "exclusive upper id bound", "types": "comma separated type prefixes",
    "wait": "seconds, 0-60", "includeOffline": "1/0/true/false, default true",
    "unread": "1/0/true/false",
}


def operation(method, path, summary, params, body, responses) -> dict:
    op = {"summary": summary.split(". ")[0], "description": summary,
          "operationId": f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}"}
    parameters = [{"name": name, "in": "path", "required": True, "schema": S}
                  for name in (p[1:-1] for p in path.split("/") if p.startswith("{"))]
    parameters += [{"name": name, "in": "query", "schema": S,
                    "description": PARAM_DESCRIPTIONS.get(name, "")} for name in params]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    op["responses"] = {}
    for status, what in responses.items():
        if isinstance(what, dict):
            op["responses"][str(status)] = {"description": "ok",
                                           "content": {"application/json": {"schema": what}}}
        else:
            op["responses"][str(status)] = {"description": what}
    for status in (400, 401, 413, 415):
        op["responses"].setdefault(str(status), {"description": "see the error body",
                                                 "content": {"application/json": {"schema": ref("Error")}}})
    if path in ("/api/health", "/api/spec"):
        op["security"] = []
    return op


def document() -> dict:
    paths: dict = {}
    for method, path, *rest in ROUTES:
        paths.setdefault(path, {})[method.lower()] = operation(method, path, *rest)
    return {
        "openapi": "3.1.0",
        "info": {"title": "relay", "version": __version__,
                 "description": "A self-hosted message bus for AI coding agents. Errors are "
                                "always {\"error\": \"...\"}; times are epoch milliseconds. "
                                "A write is answered only after it has committed (fsynced at "
                                "RELAY_SYNCHRONOUS=FULL); its events are committed in the same "
                                "transaction and streamed after it."},
        "servers": [{"url": "http://127.0.0.1:4850"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "header": {"type": "apiKey", "in": "header", "name": "X-Agent-Relay-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "query": {"type": "apiKey", "in": "query", "name": "token"}},
        },
        "security": [{"header": []}, {"bearer": []}, {"query": []}],
    }

"""Channel routing (README: Bridging a Slack channel): an inbound event goes through the
channel's inbound bindings, one channel.event message per target.

Every inbound broadcast-mode binding takes the event; of the exclusive ones,
the first healthy binding (priority, then creation order) takes it, or, when
none is healthy, the first whose target exists (its message waits).
"""
from ..contract import ID_PATTERN, PATTERN_RULES
from ..events import channel_activity, channel_routed
from ..store import channels
from . import config, messages
from .errors import Invalid, NotFound, Unprocessable


def get(c, channel_id: str) -> dict:
    channel = channels.get(c, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} not found")
    return channel


def checked_id(channel_id: str) -> str:
    if not config.is_name(channel_id):
        raise Invalid(f"channel must be {PATTERN_RULES[ID_PATTERN]}")
    return channel_id


def add_binding(c, channel_id: str, fields: dict, t: int):
    """A binding, creating the channel the first time; the target need not exist yet."""
    binding = channels.add_binding(c, checked_id(channel_id), fields, t)
    return binding, [channel_activity(channel_id, "binding.added", {"binding": binding}, t)]


def replace_bindings(c, channel_id: str, new: list[dict], t: int):
    stored = channels.replace_bindings(c, checked_id(channel_id), new, t)
    return channels.summary(c, channels.get(c, channel_id)), [channel_activity(
        channel_id, "bindings.replaced", {"bindingIds": [b["id"] for b in stored]}, t)]


def delete_binding(c, channel_id: str, binding_id: int, t: int):
    get(c, channel_id)
    binding = channels.delete_binding(c, channel_id, binding_id, t)
    if binding is None:
        raise NotFound(f"binding {binding_id} of channel {channel_id} not found")
    return binding, [channel_activity(channel_id, "binding.removed", {"binding": binding}, t)]


def messages_of(c, channel_id: str, since: int, limit: int) -> list[dict]:
    """The channel's messages both ways; any channel id has some (maybe none), a
    name no channel could have is 404."""
    if not config.is_name(channel_id):
        raise NotFound(f"channel {channel_id} not found")
    return channels.channel_messages(c, channel_id, since, limit)


def candidates(c, channel_id: str) -> list:
    """Candidate lists: each gives one message to its first binding that takes it."""
    inbound = [b for b in channels.bindings(c, channel_id) if b["direction"] in channels.INBOUND]
    lists = [[b] for b in inbound if b["mode"] == "broadcast"]
    exclusive = [b for b in inbound if b["mode"] == "exclusive"]
    if exclusive:
        lists.append(healthy_first(c, exclusive))
    return lists


def healthy_first(c, exclusive: list[dict]):
    # Lazy: health is looked at only until the first healthy binding takes the event.
    unhealthy = []
    for binding in exclusive:
        if channels.healthy(c, binding["target"]):
            yield binding
        else:
            unhealthy.append(binding)
    yield from unhealthy


def route(c, channel_id: str, event: dict, t: int) -> tuple[dict, bool]:
    """Route an inbound event `{from?, body, subject?, payload?, idempotencyKey?}`;
    ({messages, routes}, created). A repeated idempotencyKey answers the first
    routing again with created False."""
    get(c, channel_id)
    key = event.get("idempotencyKey")
    if key:
        first = channels.first_routing(c, channel_id, key)
        if first is not None:
            return first, False
    sent, routes = [], []
    for bindings in candidates(c, channel_id):
        for binding in bindings:
            message = send(c, channel_id, binding, event, t)
            if message is not None:
                sent.append(message)
                routes.append({"bindingId": binding["id"], "target": binding["target"],
                               "address": binding["address"], "messageId": message["id"],
                               "deliveryStatus": message["deliveryStatus"],
                               "resolvedToAgent": message["resolvedToAgent"]})
                break
    if not sent:
        raise Unprocessable(f"no inbound binding of channel {channel_id} routes this event")
    if key:
        channels.remember_routing(c, channel_id, key, sent, routes, t)
    return {"messages": sent, "routes": routes}, True


def send(c, channel_id: str, binding: dict, event: dict, t: int) -> dict | None:
    """The binding's message, or None when its target does not exist (an agent,
    pool, policy or orchestrator not known): the next candidate is tried."""
    fields = {"from": event.get("from") or channel_id, "to": binding["address"],
              "kind": "channel.event", "subject": event.get("subject"), "body": event["body"],
              "payload": event.get("payload") or {}, "meta": {"bindingId": binding["id"]},
              "channel": channel_id}
    try:
        message, _ = messages.store(c, fields, t)
    except NotFound:            # nothing was written: a message is checked before it is stored
        return None
    return message


def inbound(c, channel_id: str, event: dict, t: int, also=None):
    """POST /api/channels/:id/events and an integration event naming a channel:
    ((result, created), events); `also(conn)` runs in the same change when created."""
    result, created = route(c, channel_id, event, t)
    if created and also is not None:
        also(c)
    return (result, created), channel_routed(channel_id, result, t) if created else []

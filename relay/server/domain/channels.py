"""Channel routing (README: Bridging a Slack channel): an inbound event goes through the
channel's inbound bindings, one channel.event message per target.

Every inbound broadcast-mode binding takes the event; of the exclusive ones,
the first healthy binding (priority, then creation order) takes it, or, when
none is healthy, the first whose target exists (its message waits).
"""
from ..events import channel_routed
from ..store import channels
from . import messages
from .errors import NotFound, Unroutable


def get(c, channel_id: str) -> dict:
    channel = channels.get(c, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} not found")
    return channel


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
        raise Unroutable(f"no inbound binding of channel {channel_id} routes this event")
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

"""Channels: bindings, inbound events, and the channel's messages."""
from flask import Blueprint

from ..contract import route
from ..domain import channels as domain
from ..schemas.channels import (Binding, BindingIn, BindingsIn, Channel, ChannelEventIn,
                                ChannelEventResult, ChannelPage)
from ..schemas.messages import Message
from ..store import channels
from . import answer, commit, conn, now

bp = Blueprint("channels", __name__, url_prefix="/api/channels")

UNKNOWN = "unknown channel"
ROUTING = ("Routing: every inbound (inbound or both) binding of mode broadcast gets one message; "
           "of the inbound exclusive bindings, the first healthy one (lowest priority number, "
           "then creation order) gets one. A binding is healthy when its target reaches at "
           "least one online, idle or busy agent. When no exclusive binding is healthy, the "
           "first whose target exists takes it anyway and the message waits (in the agent's "
           "inbox, or queued for a pool: or policy: target): an event is not dropped. Targets "
           "that do not exist (unknown agent, pool, policy, orchestrator) are skipped. "
           "Outbound bindings never receive inbound events; they name where replies come from, "
           "and connectors read replies with GET /api/channels/{channel_id}/messages.")


@route(bp, "GET", "", "Every channel's summary, by id: bindings in routing order, per-binding "
       "health ({bindingId, healthy, onlineAgents}), messageCount (messages carrying the "
       "channel, both ways) and lastActivityAt (the latest binding change or message).",
       answers={200: [Channel]})
def list_channels():
    c = conn()
    return answer([channels.summary(c, channel) for channel in channels.listing(c)])


@route(bp, "GET", "/<channel_id>", "One channel's summary. A channel exists once a binding "
       "has been added to it (or its bindings put).", answers={200: Channel, 404: UNKNOWN})
def get_channel(channel_id):
    c = conn()
    return answer(channels.summary(c, domain.get(c, channel_id)))


@route(bp, "POST", "/<channel_id>/bindings", "Add a binding (creating the channel the first "
       "time): target {type, id} (id is a name for label, tag and capability, an id for agent, "
       "orchestrator, pool and policy, and absent for broadcast), mode exclusive (default) or "
       "broadcast, direction both (default), inbound or outbound, priority 0-1000000 (default "
       "100, lower first). The target need not exist yet. Emits channel.activity.",
       body=BindingIn, answers={201: Binding})
def add_binding(channel_id, body: BindingIn):
    fields, t = body.model_dump(), now()
    return answer(commit(lambda c: domain.add_binding(c, channel_id, fields, t)), 201)


@route(bp, "PUT", "/<channel_id>/bindings", "Replace every binding of the channel (creating "
       "it); the new bindings get new ids, in the order given. 200 with the channel. Emits "
       "channel.activity.", body=BindingsIn, answers={200: Channel})
def put_bindings(channel_id, body: BindingsIn):
    new, t = [b.model_dump() for b in body.bindings], now()
    return answer(commit(lambda c: domain.replace_bindings(c, channel_id, new, t)))


@route(bp, "DELETE", "/<channel_id>/bindings/<id:binding_id>", "Remove one binding. Emits "
       "channel.activity.", answers={200: Binding, 404: "unknown channel or binding"})
def delete_binding(channel_id, binding_id):
    t = now()
    return answer(commit(lambda c: domain.delete_binding(c, channel_id, binding_id, t)))


@route(bp, "POST", "/<channel_id>/events", "An inbound event: one channel.event message per "
       "routed target (from defaults to the channel id; channel set; meta.bindingId names the "
       "binding). 201 {messages, routes}; with an idempotencyKey already used on this channel, "
       "200 with the first routing and nothing new. 422 when no inbound binding routes it. "
       "Emits message.new (message.queued for a queued pool:/policy: target) per message and "
       "channel.activity. " + ROUTING, body=ChannelEventIn,
       answers={201: ChannelEventResult, 200: ChannelEventResult, 404: UNKNOWN,
                422: "no inbound binding routes the event"})
def post_event(channel_id, body: ChannelEventIn):
    event, t = body.model_dump(by_alias=True), now()

    result, created = commit(lambda c: domain.inbound(c, channel_id, event, t), ordered=True)
    return answer(result, 201 if created else 200)


@route(bp, "GET", "/<channel_id>/messages", "The channel's messages both ways (every message "
       "carrying this channel: inbound events and replies sent with it), ascending from since; "
       "for connectors that post replies outward. A channel without bindings answers its "
       "messages too (none: []).", query=ChannelPage,
       answers={200: [Message], 404: "not a channel id"})
def channel_messages(channel_id, query: ChannelPage):
    return answer(domain.messages_of(conn(), channel_id, query.since, query.limit))

"""Pairs (the /api/pairs summaries): exclusive one-to-one working sessions between two
agents; who may invite, accept, decline, end, and speak in one."""
from ..events import message_event, pair_updated
from ..store import agents, pairs
from . import messages
from .errors import Conflict, Forbidden, NotFound, Unprocessable


def get(c, pair_id: int) -> dict:
    pair = pairs.get(c, pair_id)
    if pair is None:
        raise NotFound(f"pair {pair_id} not found")
    return pair


def notify(c, pair: dict, sender: str, action: str, body: str, t: int,
           extra: dict | None = None) -> dict:
    """A pair message from one member to the other."""
    to = pair["to"] if sender == pair["from"] else pair["from"]
    message, _ = messages.store(c, {
        "from": sender, "to": to, "kind": "pair", "subject": extra and extra.get("subject"),
        "body": body, "payload": {**((extra or {}).get("payload") or {}),
                                  "pairId": pair["id"], "action": action}}, t)
    return message


def said(message: dict):
    return message_event("message.new", message, message["from"])


def invite(c, sender: str, to: str, topic: str | None, t: int):
    """A pending pair and its invite message to `to`; 409 when either agent
    already has a pending (unexpired) or active pair."""
    if sender == to:
        raise Unprocessable("to must be another agent than from: an agent cannot pair with itself")
    for agent_id in (sender, to):
        if agents.get(c, agent_id) is None:
            raise NotFound(f"agent {agent_id} not found")
    pair = pairs.invite(c, sender, to, topic, t)
    if pair is None:
        busy = pairs.open_pair_of(c, sender, to, t)
        who = sender if sender in (busy["from"], busy["to"]) else to
        article = "an" if busy["status"] == "active" else "a"
        raise Conflict(f"agent {who} already has {article} {busy['status']} pair ({busy['id']})")
    message = notify(c, pair, sender, "invite", topic or f"{sender} invites you to pair", t)
    pairs.set_invite_message(c, pair["id"], message["id"])
    pair = {**pair, "inviteMessageId": message["id"]}
    return pair, [pair_updated(pair), said(message)]


def act(c, pair_id: int, action: str, agent_id: str, t: int):
    """accept/decline (the invitee only) or end (either member)."""
    pair = pairs.act(c, pair_id, action, agent_id, t)
    if pair is None:
        pair = get(c, pair_id)
        if action != "end" and agent_id != pair["to"]:
            raise Forbidden(f"only the invitee ({pair['to']}) can {action} pair {pair_id}")
        if agent_id not in (pair["from"], pair["to"]):
            raise Forbidden(f"agent {agent_id} is not a member of pair {pair_id}")
        shown = "expired" if pair["status"] == "pending" else pair["status"]
        raise Conflict(f"pair {pair_id} is {shown}: cannot {action} it")
    notice = notify(c, pair, agent_id, action, f"{agent_id} {pairs.DONE[action]} the pair", t)
    return pair, [pair_updated(pair), said(notice)]


def send(c, pair_id: int, sender: str, fields: dict, t: int):
    """A pair message to the other member; only while the pair is active."""
    pair = get(c, pair_id)
    if sender not in (pair["from"], pair["to"]):
        raise Forbidden(f"agent {sender} is not a member of pair {pair_id}")
    if pair["status"] != "active":
        raise Conflict(f"pair {pair_id} is {pair['status']}, not active")
    message = notify(c, pair, sender, "message", fields["body"], t, fields)
    return message, [said(message)]

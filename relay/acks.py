"""Acknowledgements: the rules (README "Acknowledgements and receipts").

Who may ack (a recipient), what an ack of a claimable message does (done
for all when its claimer acks), and the deadline: redelivery with a new
window, then overdue and the escalation message in the original thread.
Views and the reap cycle call these; the SQL is in store/receipts.py.
"""
import logging

from . import addresses
from .errors import ApiError, conflict, not_found
from .events import message_event, receipt_event
from .store import messages, receipts

log = logging.getLogger("relay.acks")

ACK_OPTIONS = ("ackBy", "ackWithinSeconds", "maxDeliveries", "escalateTo")
ESCALATION_FROM = "system"


def check_send(conn, fields: dict, now: int) -> None:
    """A send's ack options: 422 where they cannot work, 404 for an unknown escalateTo."""
    if not fields.get("ackRequired"):
        given = [name for name in ACK_OPTIONS if fields.get(name) is not None]
        if given:
            raise ApiError(422, f"{given[0]} needs ackRequired: true")
        return
    if fields.get("ackBy") is not None:
        if fields.get("ackWithinSeconds") is not None:
            raise ApiError(422, "ackBy and ackWithinSeconds: give one deadline, not both")
        if fields["ackBy"] <= now:
            raise ApiError(422, "ackBy must be later than now")
    target = fields.get("escalateTo")
    if target is not None and not messages.address_exists(conn, target):
        raise not_found(f"escalateTo {target} not found")


# --- ack, nack, progress -------------------------------------------------------------------

def recipient(conn, message: dict, agent: dict) -> dict | None:
    """The agent's receipt, {} for a recipient without one yet (a later reader of
    a group message), or None when the message is not the agent's to ack."""
    if not message.get("ackRequired"):
        raise ApiError(400, f"message {message['id']} does not ask for an acknowledgement")
    found = receipts.get(conn, message["id"], agent["id"])
    if found is not None:
        return found
    if message["from"] != agent["id"] and (
            addresses.reaches(message["to"], agent)
            or agent["id"] in (message["resolvedToAgent"], message["claimedBy"])):
        return {}
    return None


def _owned(conn, message_id: int, agent: dict) -> tuple[dict, dict]:
    message = messages.get(conn, message_id)
    if message is None:
        raise not_found(f"message {message_id} not found")
    receipt = recipient(conn, message, agent)
    if receipt is None:
        raise ApiError(403, f"agent {agent['id']} is not a recipient of message {message_id}")
    return message, receipt


def ack(conn, message_id: int, agent: dict, note: str | None, now: int) -> tuple[dict, list]:
    """(the agent's receipt, events). Acked once: a repeat changes nothing."""
    message, _ = _owned(conn, message_id, agent)
    acked = receipts.ack(conn, message_id, agent["id"], note, now)
    if acked is None:
        return receipts.get(conn, message_id, agent["id"]), []
    done = [acked]
    if message["claimable"] and message["claimedBy"] == agent["id"]:
        # The claimer did the work: every other recipient is done too.
        done += receipts.ack_all(conn, message_id, agent["id"], now)
    return acked, [receipt_event("message.acked", message, r) for r in done]


def _open(conn, message_id: int, agent: dict) -> dict:
    message, receipt = _owned(conn, message_id, agent)
    if not receipt.get("owed"):
        raise conflict(f"agent {agent['id']} owes no ack for message {message_id}")
    if receipt["state"] in ("acked", "overdue"):
        raise conflict(f"message {message_id} is already {receipt['state']} for {agent['id']}")
    return message


def nack(conn, message_id: int, agent: dict, reason: str | None, retry_seconds: int,
         now: int) -> dict:
    """Not now: the reap cycle redelivers it once `retry_seconds` have passed."""
    _open(conn, message_id, agent)
    return receipts.nack(conn, message_id, agent["id"], reason, now + 1000 * retry_seconds)


def progress(conn, message_id: int, agent: dict, now: int) -> dict:
    _open(conn, message_id, agent)
    return receipts.progress(conn, message_id, agent["id"], now)


# --- the deadline (a reap step) --------------------------------------------------------

def reap(conn, now: int) -> tuple[dict, list]:
    """Overdue where no delivery is left (escalated), redelivered elsewhere."""
    events, escalations = [], []
    for receipt in receipts.mark_overdue(conn, now):
        message = messages.get(conn, receipt["messageId"])
        escalation = escalate(conn, message, receipt, now)
        if escalation is not None:
            escalations.append(escalation["id"])
        events.append(receipt_event("message.ack_overdue", message, receipt,
                                    escalationMessageId=escalation and escalation["id"]))
        if escalation is not None:
            queued = escalation["deliveryStatus"] == "queued"
            events.append(message_event("message.queued" if queued else "message.new",
                                        escalation, escalation["from"]))
    redelivered = receipts.redeliver(conn, now)
    for receipt in redelivered:
        message = messages.get(conn, receipt["messageId"])
        events.append(receipt_event("message.redelivered", message, receipt, message=message))
    overdue = [e.data for e in events if e.type == "message.ack_overdue"]
    return ({"redeliveredReceipts": [_ref(r) for r in redelivered],
             "overdueReceipts": [_ref(r) for r in overdue],
             "escalationMessageIds": escalations}, events)


def _ref(receipt: dict) -> dict:
    return {"messageId": receipt["messageId"], "agentId": receipt["agentId"]}


def escalate(conn, message: dict, receipt: dict, now: int) -> dict | None:
    """The kind "system" message to escalateTo, in the original thread; None when
    there is no escalateTo or it cannot be reached now (logged: the overdue stands)."""
    if not message["escalateTo"]:
        return None
    what = message["subject"] or f"message {message['id']}"
    try:
        sent, _ = messages.send(conn, {
            "from": ESCALATION_FROM, "to": message["escalateTo"], "kind": "system",
            "subject": f"ack overdue: {what}"[:240], "replyTo": message["id"],
            "body": (f"{receipt['agentId']} has not acknowledged message {message['id']} "
                     f"from {message['from']} after {receipt['deliveryCount']} deliveries."),
            "payload": {"messageId": message["id"], "agentId": receipt["agentId"],
                        "deliveryCount": receipt["deliveryCount"]}}, now)
    except ApiError as error:
        log.warning("cannot escalate message %s to %s: %s", message["id"],
                    message["escalateTo"], error)
        return None
    return sent


# --- what a stream carried ---------------------------------------------------------------

def carried(agent_id: str, envelopes) -> list[int]:
    """Ids of messages asking for an ack that these stream events carry to the agent."""
    ids = []
    for e in envelopes:
        data = e["data"]
        if e["type"] == "message.new" and data.get("ackRequired") and data["from"] != agent_id:
            ids.append(data["id"])
        elif e["type"] == "message.redelivered" and data["agentId"] == agent_id:
            ids.append(data["messageId"])
    return ids

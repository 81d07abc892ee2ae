"""Tasks (README: Closed-loop tasks): opening (POST /api/tasks, integration events and
automations open them the same way), claims, moves, notes, deletes."""
from ..events import task_deleted, task_event, task_history_event
from ..store import agents as agent_rows, deliveries, tasks
from . import agents, messages
from .errors import Conflict, Invalid, NotFound


def get(c, task_id: int) -> dict:
    task = tasks.get(c, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def task_message(task: dict) -> dict:
    """The kind "task" message that tells the target about a new task."""
    return {"from": "system", "to": task["target"], "kind": "task", "subject": task["title"],
            "body": task["body"] or task["title"],
            "payload": {"taskId": task["id"], "severity": task["severity"],
                        "source": task["source"]}}


def checked_callback(outbound, fields: dict, integration: str | None) -> None:
    """A callbackUrl the outbound rules (outbound.py) allow: loopback only when the
    relay token's holder set it, never an integration token."""
    if fields.get("callbackUrl"):
        refused = outbound.check_literal(fields["callbackUrl"], allow_loopback=integration is None)
        if refused:
            raise Invalid(f"callbackUrl is refused: {refused}")


def create(relay, fields: dict, integration: str | None, t: int, depth: int = 0):
    """POST /api/tasks and an automation's task action: (task, created)."""
    checked_callback(relay.outbound, fields, integration)
    return relay.committer.commit(lambda c: open_task(c, fields, integration, t), depth,
                                  ordered=bool(fields.get("target")))


def open_task(c, fields: dict, integration: str | None, t: int):
    """Open a task, or fold it into the live one with its dedupeKey; ((task, created),
    events). `integration`: the integration whose token opened it (it signs the callbacks)."""
    task, entry, created = tasks.create(c, fields, integration, t)
    if not created:
        return (task, False), [task_history_event(task, entry)]
    events = [task_event("task.created", task)]
    if task["target"]:
        message, _ = messages.store(c, task_message(task), t)
        events.append(messages.arrived(message))
    return (task, True), events


def claim(c, task_id: int, agent_id: str, session, ttl: int | None, t: int):
    agents.acting(c, agent_id, session)
    before = get(c, task_id)
    moved = tasks.claim(c, before, agent_id, ttl, t)
    if moved is None:
        if before["status"] in tasks.FINAL:
            raise Conflict(f"task {task_id} is {before['status']}: a final task cannot be claimed")
        raise Conflict(f"task {task_id} is already claimed by {before['claimedBy']}")
    agent_rows.touch(c, agent_id, t)
    return moved[0], [task_event("task.updated", moved[0])]


def release(c, task_id: int, agent_id: str, session, t: int):
    agents.acting(c, agent_id, session)
    before = get(c, task_id)
    moved = tasks.release(c, before, agent_id, t)
    if moved is None:
        if before["claimedBy"] is None or before["status"] in tasks.FINAL:
            raise Conflict(f"task {task_id} is not claimed")
        raise Conflict(f"task {task_id} is claimed by {before['claimedBy']}, not {agent_id}")
    return moved[0], [task_event("task.updated", moved[0])]


def move(c, task_id: int, status: str, t: int, *, agent_id=None, note=None, result=None):
    """A legal move (any non-final status to any status but `claimed`) or 409
    naming both states; with agentId, another agent's live claim is 409."""
    before = get(c, task_id)
    if before["status"] in tasks.FINAL:
        raise Conflict(f"task {task_id} is {before['status']}, a final status: it cannot move "
                       f"to {status} (open a new task)")
    if (agent_id and before["claimedBy"] not in (None, agent_id)
            and (before["claimExpiresAt"] or 0) > t):
        raise Conflict(f"task {task_id} is claimed by {before['claimedBy']}, not {agent_id}")
    task, _ = tasks.move(c, before, status, t, agent_id=agent_id, note=note, result=result)
    return task, [task_event("task.updated", task)]


def progress(c, task_id: int, note: str, agent_id: str | None, value: int | None, t: int):
    noted = tasks.progress(c, task_id, note, agent_id, value, t)
    if noted is None:
        raise NotFound(f"task {task_id} not found")
    task, entry = noted
    return entry, [task_history_event(task, entry)]


def delete(c, task_id: int):
    task = tasks.delete(c, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return {"ok": True}, [task_deleted(task)]


def retry_delivery(c, task_id: int, delivery_id: int, t: int):
    """A failed callback delivery is pending and due again (also after the task was deleted)."""
    delivery, status = deliveries.retry(c, task_id, delivery_id, t)
    if delivery is None and status is None:
        raise NotFound(f"task {task_id} has no delivery {delivery_id}")
    if delivery is None:
        raise Conflict(f"delivery {delivery_id} is {status}: only a failed delivery can be retried")
    return delivery, []

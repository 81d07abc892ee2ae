"""Tasks: open (folding duplicates), list, claim, release, move,
progress notes, delete, and the callback deliveries a task owes."""
from flask import Blueprint, g

from ..contract import route
from ..domain import tasks as domain
from ..schemas.agents import STALE
from ..schemas.common import Ok
from ..schemas.tasks import (Delivery, StatusIn, Task, TaskClaim, TaskEvent, TaskEventIn,
                             TaskFilter, TaskIn, TaskRelease, TaskWithEvents)
from ..store import deliveries, tasks
from . import answer, commit, conn, now, relay

bp = Blueprint("tasks", __name__, url_prefix="/api/tasks")

UNKNOWN = "unknown task"
FINAL_MOVE = "a move out of a final status (the error names both states)"
INTEGRATION = "an integration token: it reaches only the routes of its scopes"


@route(bp, "POST", "", "Open a task. A dedupeKey equal to that of a live (not final) task folds "
       "in: 200 with that task, occurrences + 1, a duplicate entry in its history and the event "
       "task.event; a final task's dedupeKey opens a new one (201, task.created). With target, a "
       "kind task message from system (payload.taskId, severity, source) goes to the target, "
       "queued for pool:/policy: like any message. Opened with an integration token, the task "
       "remembers the integration, whose secret signs its callbacks. A task with a callbackUrl "
       "gets one callback per status change (claim, release, move, a claim the reaper gives "
       "back); opening, folding and notes send none. callbackUrl is stored as it will be "
       "sent: its host in IDNA (punycode), its path and query percent-encoded as UTF-8, no "
       "fragment. task.event carries {taskId, event (the history entry), task}.", body=TaskIn,
       answers={201: Task, 200: Task, 400: "a bad field, or a callbackUrl whose address the "
                "outbound rules refuse (loopback for an integration token; link-local, private: "
                "RELAY_OUTBOUND_ALLOW)", 403: "an integration token without tasks:write",
                404: "unknown target agent, pool or policy"})
def create_task(body: TaskIn):
    task, created = domain.create(relay(), body.model_dump(), g.get("integration"), now())
    return answer(task, 201 if created else 200)


@route(bp, "GET", "", "Tasks, newest first; status takes a comma separated list.",
       query=TaskFilter, answers={200: [Task], 403: INTEGRATION})
def list_tasks(query: TaskFilter):
    return answer(tasks.listing(
        conn(), statuses=query.status, target=query.target, claimed_by=query.claimedBy,
        source=query.source, severity=query.severity, before=query.before, limit=query.limit))


@route(bp, "GET", "/<id:task_id>", "One task with its history (events[], oldest first).",
       answers={200: TaskWithEvents, 403: INTEGRATION, 404: UNKNOWN})
def get_task(task_id):
    c = conn()
    task = domain.get(c, task_id)
    return answer({**task, "events": tasks.history(c, task_id)})


@route(bp, "POST", "/<id:task_id>/claim", "Claim exactly once (one conditional UPDATE) for "
       "ttlSeconds (default 300); the claiming agent must be registered. The holder re-claiming "
       "extends its claim and keeps the status. Emits task.updated; a new status owes a "
       "callback.", body=TaskClaim,
       answers={200: Task, 403: INTEGRATION, 404: "unknown task or agent",
                409: "held by another agent, final, or " + STALE})
def claim_task(task_id, body: TaskClaim):
    t = now()
    return answer(commit(lambda c: domain.claim(c, task_id, body.agentId, body, body.ttlSeconds,
                                                t)))


@route(bp, "POST", "/<id:task_id>/release", "The holder gives the task back: claimed and "
       "in_progress return to open (blocked stays blocked), claimedBy is null. Emits "
       "task.updated.", body=TaskRelease,
       answers={200: Task, 403: INTEGRATION, 404: "unknown task or agent",
                409: "not claimed, claimed by another agent, or " + STALE})
def release_task(task_id, body: TaskRelease):
    t = now()
    return answer(commit(lambda c: domain.release(c, task_id, body.agentId, body, t)))


@route(bp, "POST", "/<id:task_id>/status", "Move a task: from any status that is not final to "
       "any status but claimed (400: only the claim route claims). A final status (resolved, "
       "failed, cancelled) is final: 409 naming both states. open gives the claim back; a final "
       "status sets resolvedAt and ends the claim's clock (claimedBy stays: who held it); result "
       "is stored when given; moving to the same status records the note and sends no "
       "callback. With agentId, a task held by "
       "another agent's live claim is 409. Emits task.updated; a new status owes a callback.",
       body=StatusIn, answers={200: Task, 403: "an integration token without tasks:write",
                               404: UNKNOWN, 409: FINAL_MOVE + ", or held by another agent"})
def move_task(task_id, body: StatusIn):
    t = now()
    return answer(commit(lambda c: domain.move(c, task_id, body.status, t, agent_id=body.agentId,
                                               note=body.note, result=body.result)))


@route(bp, "POST", "/<id:task_id>/events", "A progress note (progress 0-100 optional), on any "
       "task, final ones included. 201 with the history entry; emits task.event.",
       body=TaskEventIn, answers={201: TaskEvent, 403: "an integration token without "
                                  "tasks:write", 404: UNKNOWN})
def add_progress(task_id, body: TaskEventIn):
    t = now()
    return answer(commit(lambda c: domain.progress(c, task_id, body.note, body.agentId,
                                                   body.progress, t)), 201)


@route(bp, "DELETE", "/<id:task_id>", "Delete a task and its history; callbacks already owed "
       "still go out. Emits task.deleted {taskId}.",
       answers={200: Ok, 403: INTEGRATION, 404: UNKNOWN})
def delete_task(task_id):
    return answer(commit(lambda c: domain.delete(c, task_id)))


@route(bp, "GET", "/<id:task_id>/deliveries", "The task's callback deliveries, oldest first: "
       "pending (nextAttemptAt says when it is tried next), delivered, or failed (a 3xx or "
       "4xx, an address the outbound rules refuse, a URL that cannot be sent, or "
       "RELAY_CALLBACK_RETRY_FOR seconds of retries spent; lastError says which).",
       answers={200: [Delivery], 403: INTEGRATION, 404: UNKNOWN})
def list_deliveries(task_id):
    c = conn()
    domain.get(c, task_id)
    return answer(deliveries.for_task(c, task_id))


@route(bp, "POST", "/<id:task_id>/deliveries/<id:delivery_id>/retry", "Send a failed delivery "
       "again: it is pending and due now, with the same body and signature, and a new retry "
       "window of RELAY_CALLBACK_RETRY_FOR seconds from now (attempts keep counting). Works "
       "after the task was deleted too.",
       answers={200: Delivery, 403: INTEGRATION, 404: "the task has no such delivery",
                409: "the delivery is not failed (pending or delivered)"})
def retry_delivery(task_id, delivery_id):
    t = now()
    delivery = commit(lambda c: domain.retry_delivery(c, task_id, delivery_id, t))
    relay().callbacks.wake()
    return answer(delivery)

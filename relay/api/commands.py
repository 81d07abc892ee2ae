"""Commands (API.md §9): create, list (what an orchestrator polls), get, PATCH, delete."""
from flask import Blueprint, request

from ..contract import route
from .. import orchestration, recipe_runs
from ..errors import ApiError, conflict, not_found
from ..events import activity_event, command_event
from ..schemas.commands import Command, CommandFilter, CommandIn, CommandPatch
from ..schemas.common import Ok
from ..store import activity, commands
from . import answer, commit, conn, now

bp = Blueprint("commands", __name__, url_prefix="/api/commands")

UNKNOWN = "unknown command"
PATCH_MAX = 65536        # bytes: a result is a report, not a payload store


@bp.before_request
def limit_patch():
    # Before the body is read and parsed: an oversized result is refused unread.
    if request.method == "PATCH":
        size = request.content_length
        if size is None:
            size = len(request.get_data(cache=True))
        if size > PATCH_MAX:
            raise ApiError(413, f"request body is larger than {PATCH_MAX} bytes")


@route(bp, "POST", "", "Queue a command for an orchestrator (status pending, expiresAt = now + "
       "ttlSeconds). type is agent.spawn, agent.restart, agent.shutdown, prompt.inject or x.<name>.",
       body=CommandIn, answers={201: Command})
def create(body: CommandIn):
    fields = body.model_dump()
    t = now()
    return answer(commit(lambda c: orchestration.create_command(c, fields, t)), 201)


@route(bp, "GET", "", "List commands, oldest first (what an orchestrator polls: "
       "target=<its agentId>&status=pending), or newest first with order=newest (the "
       "dashboard's panel).", query=CommandFilter, answers={200: [Command]})
def list_commands(query: CommandFilter):
    return answer(commands.listing(conn(), target=query.target, status=query.status,
                                   type_=query.type, correlation_id=query.correlationId,
                                   newest_first=query.order == "newest", limit=query.limit))


@route(bp, "GET", "/<command_id>", "One command.", answers={200: Command, 404: UNKNOWN})
def get_command(command_id):
    command = commands.get(conn(), command_id)
    if command is None:
        raise not_found(f"command {command_id} not found")
    return answer(command)


@route(bp, "PATCH", "/<command_id>", "Move a command through pending -> accepted -> running -> "
       "succeeded | failed; pending/accepted -> cancelled. A command whose params name a spawn "
       "policy (policyName, spawnRequestId of its current request) moves that policy's state: a "
       "failed agent.spawn/agent.restart is a failure (backoff), a succeeded agent.shutdown "
       "makes it stopped. Skipping ahead is allowed (pending -> "
       "running, accepted -> succeeded), going back or repeating a state is not: 409 naming both "
       "states; of concurrent PATCHes exactly one moves the command out of each state. result "
       "replaces the stored result when given. A body over 64 KiB is 413.", body=CommandPatch,
       answers={200: Command, 404: UNKNOWN, 409: "the transition is not allowed from the "
                "command's current state"})
def patch_command(command_id, body: CommandPatch):
    status, result, error = body.status, body.result, body.error
    t = now()

    def change(c):
        moved, current = commands.move(c, command_id, status, result, error, t)
        if moved is None:
            if current is None:
                raise not_found(f"command {command_id} not found")
            final = " (a final state)" if current["status"] in commands.FINAL else ""
            raise conflict(f"command {command_id} is {current['status']}{final}; "
                           f"it cannot become {status}")
        events = [command_event("command.updated", moved)]
        if status in commands.FINAL:
            entry, _ = activity.add(c, {"kind": "command", "agentId": moved["target"],
                                        "title": f"{moved['type']} {status}",
                                        "body": moved["error"],
                                        "meta": {"commandId": moved["id"]}}, t)
            events.append(activity_event(entry))
        return moved, (events + orchestration.on_command(c, moved, t)
                       + recipe_runs.on_command(c, moved, t))
    return answer(commit(change))


@route(bp, "DELETE", "/<command_id>", "Delete a command, whatever its status. No event: API.md "
       "§10 names none for a deleted command.",
       answers={200: Ok, 404: UNKNOWN})
def delete_command(command_id):
    def change(c):
        if not commands.delete(c, command_id):
            raise not_found(f"command {command_id} not found")
        return {"ok": True}, []
    return answer(commit(change))

"""Commands (README: Keeping an agent running): what an orchestrator polls and reports on.

A command moves pending -> accepted -> running -> succeeded | failed, or
pending/accepted -> cancelled; skipping ahead is allowed, going back or
repeating a state is not. A command of a spawn policy moves the policy's
state (orchestration.on_command), one of a recipe role moves the recipe's
instance (recipe_runs.on_command).
"""
from ..events import activity_event, command_event
from ..store import activity, commands
from . import orchestration, recipe_runs
from .errors import Conflict, NotFound


def get(c, command_id: str) -> dict:
    command = commands.get(c, command_id)
    if command is None:
        raise NotFound(f"command {command_id} not found")
    return command


def create(c, fields: dict, t: int):
    return orchestration.create_command(c, fields, t)


def move(c, command_id: str, status: str, result, error, t: int):
    """One conditional UPDATE moves it (of concurrent moves exactly one wins);
    409 naming both states when the move is not allowed."""
    moved, current = commands.move(c, command_id, status, result, error, t)
    if moved is None:
        if current is None:
            raise NotFound(f"command {command_id} not found")
        final = " (a final state)" if current["status"] in commands.FINAL else ""
        raise Conflict(f"command {command_id} is {current['status']}{final}; "
                       f"it cannot become {status}")
    events = [command_event("command.updated", moved)]
    if status in commands.FINAL:
        entry, _ = activity.add(c, {"kind": "command", "agentId": moved["target"],
                                    "title": f"{moved['type']} {status}", "body": moved["error"],
                                    "meta": {"commandId": moved["id"]}}, t)
        events.append(activity_event(entry))
    return moved, (events + orchestration.on_command(c, moved, t)
                   + recipe_runs.on_command(c, moved, t))


def delete(c, command_id: str):
    """No event: none is named for a deleted command (the event types in /api/spec)."""
    if not commands.delete(c, command_id):
        raise NotFound(f"command {command_id} not found")
    return {"ok": True}, []

"""Automations (README: Recipes and automations): creating, changing and
deleting them, each change checked as the create route says; what a run's
action does is domain/actions.py, the worker that runs them automations.py."""
from ..store import automations
from . import actions
from .errors import Conflict, NotFound


def get(c, automation_id: str) -> dict:
    found = automations.get(c, automation_id)
    if found is None:
        raise NotFound(f"automation {automation_id} not found")
    return found


def stored(body, automation_id: str) -> dict:
    """The trigger and action of a create or PATCH body as stored, the action checked."""
    fields = {}
    if body.trigger is not None:
        fields["trigger"] = body.trigger.stored()
    if body.action is not None:
        fields["action"] = actions.checked(body.action, automation_id)
    return fields


def create(c, fields: dict, t: int):
    created = automations.create(c, fields, t)
    if created is None:
        raise Conflict(f"automation {fields.get('id')} already exists")
    return created, []


def update(c, automation_id: str, changes: dict, t: int):
    updated = automations.update(c, automation_id, changes, t)
    if updated is None:
        raise NotFound(f"automation {automation_id} not found")
    return updated, []


def delete(c, automation_id: str):
    if not automations.delete(c, automation_id):
        raise NotFound(f"automation {automation_id} not found")
    return {"ok": True}, []

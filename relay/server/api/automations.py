"""Automations: CRUD, a manual run, and the runs of each."""
from flask import Blueprint

from ..contract import route
from ..domain import automations as domain
from ..schemas.automations import (MAX_DEPTH, Automation, AutomationIn, AutomationPatch, Run,
                                   RunsQuery)
from ..schemas.common import Ok
from ..store import automations
from . import answer, commit, conn, now, relay

bp = Blueprint("automations", __name__, url_prefix="/api/automations")

UNKNOWN = "unknown automation"


def changed(result):
    relay().automations.reload()
    return result


@route(bp, "POST", "", "Create an automation (id client-chosen or generated auto_<hex>; 409 when "
       "taken). trigger: {event: <event type prefix>, filter?: {<dotted path in the event's "
       "data>: <value>}} (every filter entry must be equal) or {everySeconds} (first run one "
       "period after creation or after the trigger or enabled changes; after a pause, one run, "
       "then a full period). action: {type, ...the body of its route}: message -> POST "
       "/api/messages (from defaults to automation:<id>), task -> POST /api/tasks, command -> "
       "POST /api/commands (commandType is the command's type; source defaults to "
       "automation:<id>), spawn -> {policyName} (POST /api/spawn-policy/<name>/start) or the "
       "body of POST /api/orchestrators/:id/spawn plus orchestratorId. Strings may hold "
       "{{event.data.<path>}} (also {{event.type}}, {{event.id}}, {{event.subject}}): a string "
       "that is one placeholder takes the value itself. The action is checked against its "
       "route now, except fields holding placeholders (checked when a run fills them in).",
       body=AutomationIn, answers={201: Automation, 409: "the id is taken"})
def create(body: AutomationIn):
    fields = {**body.model_dump(exclude={"trigger", "action"}),
              **domain.stored(body, body.id or "new")}
    t = now()
    return answer(changed(commit(lambda c: domain.create(c, fields, t))), 201)


@route(bp, "GET", "", "Every automation, oldest first.", answers={200: [Automation]})
def list_automations():
    return answer(automations.listing(conn()))


@route(bp, "GET", "/<automation_id>", "One automation.", answers={200: Automation, 404: UNKNOWN})
def get_automation(automation_id):
    return answer(domain.get(conn(), automation_id))


@route(bp, "PATCH", "/<automation_id>", "Change name, enabled, trigger or action (each replaced "
       "whole when given, checked as on create).", body=AutomationPatch,
       answers={200: Automation, 404: UNKNOWN})
def patch_automation(automation_id, body: AutomationPatch):
    changes = {**body.model_dump(exclude_none=True, exclude={"trigger", "action"}),
               **domain.stored(body, automation_id)}
    t = now()
    return answer(changed(commit(lambda c: domain.update(c, automation_id, changes, t))))


@route(bp, "DELETE", "/<automation_id>", "Delete an automation and its runs.",
       answers={200: Ok, 404: UNKNOWN})
def delete_automation(automation_id):
    return answer(changed(commit(lambda c: domain.delete(c, automation_id))))


@route(bp, "POST", "/<automation_id>/run", "Run the action now (also when disabled) and answer "
       "the run: trigger manual, depth 1, no event (so a placeholder fails the run). A failing "
       "action is a run with status failed and the route's error, not an error answer.",
       answers={200: Run, 404: UNKNOWN})
def run_automation(automation_id):
    automation = domain.get(conn(), automation_id)
    return answer(relay().automations.run(automation, "manual", None, 1))


@route(bp, "GET", "/<automation_id>/runs", "The automation's runs, newest first (the last 200 "
       "are kept). Event runs happen on the automations thread after the event commits; a run "
       f"whose event was made by automation runs {MAX_DEPTH} deep is skipped (loop guard) with "
       "the reason in error.", query=RunsQuery, answers={200: [Run], 404: UNKNOWN})
def list_runs(automation_id, query: RunsQuery):
    c = conn()
    domain.get(c, automation_id)
    return answer(automations.runs(c, automation_id, query.limit))

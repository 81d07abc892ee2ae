"""What an automation's action does (README: Recipes and automations): the same domain
function, with the same input check, as the route its type names, run on
the automations thread. `depth` (how many automation runs deep the action
was caused) goes to the committer with every change, so the events the
action makes carry it (the loop guard)."""
import json
from contextlib import contextmanager
from urllib.parse import quote

from pydantic import ValidationError

from ..contract import explain, parse
from ..errors import ApiError, status_of
from ..schemas.commands import CommandIn
from ..schemas.common import JSON_MAX
from ..schemas.messages import MessageIn
from ..schemas.orchestrators import SpawnIn
from ..schemas.tasks import TaskIn
from . import commands, messages, orchestrators, policies, tasks
from .errors import Invalid, Refused


def has_placeholder(value) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    return False


def check(model, body: dict, prefix: str) -> None:
    """Check an action's body against its route's model; a field holding a
    {{event...}} placeholder is checked when the run fills it in."""
    try:
        model.model_validate(body)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            loc = problem["loc"]
            if loc and has_placeholder(body.get(loc[0])):
                continue
            raise Invalid(prefix + explain(model, problem)) from None


def checked(action, automation_id: str) -> dict:
    """The action as stored, checked against its route's input now (except
    fields holding placeholders)."""
    value = action.model_dump()
    if len(json.dumps(value)) > JSON_MAX:
        raise Invalid(f"action must be at most {JSON_MAX} bytes as JSON")
    kind = value["type"]
    body = {k: v for k, v in value.items() if k != "type"}
    if kind == "message":
        check(MessageIn, {"from": f"automation:{automation_id}", **body}, "action.")
    elif kind == "command":
        if "commandType" not in body:
            raise Invalid("action.commandType is required (the command's own type)")
        check(CommandIn, {**body, "type": body["commandType"]}, "action.")
    elif kind == "task":
        check(TaskIn, body, "action.")
    elif "policyName" in body:
        if not isinstance(body["policyName"], str) or not body["policyName"]:
            raise Invalid("action.policyName must be a spawn policy's name")
    elif "orchestratorId" in body:
        if not isinstance(body["orchestratorId"], str) or not body["orchestratorId"]:
            raise Invalid("action.orchestratorId must be an orchestrator's id")
        check(SpawnIn, body, "action.")
    else:
        raise Invalid("action.policyName or action.orchestratorId is required for a "
                      "spawn action")
    return value


class ActionFailed(Exception):
    """The action's route would have answered an error: recorded on the run."""


def run(relay, automation: dict, action: dict, depth: int) -> dict:
    """{status, body}: what the route would have answered; ActionFailed naming
    the route and its error otherwise."""
    kind = action["type"]
    body = {k: v for k, v in action.items() if k != "type"}
    source = f"automation:{automation['id']}"
    path, act = _action(relay, kind, body, source, depth)
    try:
        status, answer = act()
    except ApiError as error:
        raise ActionFailed(f"POST {path} answered {error.status}: {error.message}") from None
    except Refused as error:
        raise ActionFailed(f"POST {path} answered {status_of(error)}: {error.message}") from None
    return {"status": status, "body": answer}


def _action(relay, kind: str, body: dict, source: str, depth: int):
    """(the route's path, a function running it: () -> (status, answer))."""
    commit = relay.committer.commit
    if kind == "message":
        def message():
            fields = parse(MessageIn, {"from": source, **body}).fields()
            with borrowed(relay) as conn:
                sent, created = messages.send(relay, lambda: conn, fields, relay.clock(), depth)
            return (201 if created else 200), sent
        return "/api/messages", message
    if kind == "task":
        def task():
            fields = parse(TaskIn, {"source": source, **body}).model_dump()
            opened, created = tasks.create(relay, fields, None, relay.clock(), depth)
            return (201 if created else 200), opened
        return "/api/tasks", task
    if kind == "command":
        def command():
            command = {"source": source, **body, "type": body.get("commandType")}
            command.pop("commandType", None)
            fields = parse(CommandIn, command).model_dump()
            t = relay.clock()
            return 201, commit(lambda c: commands.create(c, fields, t), depth)
        return "/api/commands", command
    if "policyName" in body:
        name = text(body["policyName"])

        def start():
            t = relay.clock()
            return 202, commit(lambda c: policies.start(c, name, "dashboard", t), depth)
        return f"/api/spawn-policy/{quote(name, safe='')}/start", start
    orchestrator = text(body.pop("orchestratorId", ""))

    def spawn():
        spec, t = parse(SpawnIn, body).model_dump(), relay.clock()
        return 202, commit(lambda c: orchestrators.spawn(c, orchestrator, spec, "dashboard", t),
                           depth)
    return f"/api/orchestrators/{quote(orchestrator, safe='')}/spawn", spawn


def text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@contextmanager
def borrowed(relay):
    """A read connection from the relay's pool, for as long as the action runs."""
    conn = relay.connections.acquire()
    try:
        yield conn
    finally:
        relay.connections.release(conn)

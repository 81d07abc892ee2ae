"""Starting and stopping a team from a recipe, and the role states its commands move.

A start is one `agent.spawn` command per role, made by the same code as
POST /api/orchestrators/:id/spawn (orchestration.spawn_params: the provider
must be one the orchestrator offers, cwd must resolve inside its baseDir).
Each role has its own spawnRequestId; a command's result (PATCH
/api/commands/:id) and an agent registering with that id in its meta move
the role, and the instance follows its roles (store/recipes.status_of).
"""
import re

from . import orchestration
from .errors import Conflict, Invalid, NotFound, Refused
from ..events import recipe_instance_event
from ..schemas.common import PROMPT_MAX
from ..store import orchestrators, recipes

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def substitute(text: str, values: dict) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def variables(recipe: dict, given: dict, builtins: dict) -> dict:
    """The values the prompts' {{name}} placeholders take: the recipe's defaults, the
    start's vars, then the built-ins; 400 naming a placeholder nothing gives a value."""
    values = {**{k: v for k, v in recipe["vars"].items() if v is not None}, **given, **builtins}
    for role in recipe["roles"]:
        for text in (role["prompt"], role["label"] or ""):
            for name in PLACEHOLDER.findall(text):
                if name not in values:
                    raise Invalid(f"vars.{name} is required: recipe {recipe['name']} "
                                      f"uses {{{{{name}}}}} in role {role['role']}")
    return values


def spawn_specs(recipe: dict, orch: dict, cwd, given: dict, instance_id: str,
                request_ids: list[str], t: int) -> list[dict]:
    """Each role's agent.spawn params, checked against the orchestrator (400 otherwise)."""
    resolved = orchestration.checked_cwd(orch, cwd)
    values = variables(recipe, given, {"cwd": resolved or "", "orchestratorId": orch["id"],
                                       "recipe": recipe["name"], "instanceId": instance_id})
    specs = []
    for role, request_id in zip(recipe["roles"], request_ids):
        prompt = substitute(role["prompt"], {**values, "role": role["role"]})
        if len(prompt) > PROMPT_MAX:
            raise Invalid(f"vars must leave the prompt of role {role['role']} at most "
                              f"{PROMPT_MAX} characters (it would be {len(prompt)})")
        label = substitute(role["label"], values)[:120] if role["label"] else None
        try:
            params = orchestration.spawn_params(orch, {
                **role, "cwd": resolved, "label": label, "prompt": prompt,
                "spawnRequestId": request_id}, "recipe", t)
        except Refused as error:    # the role's own status (400 or 422), its reason named
            raise type(error)(f"orchestratorId {orch['id']} cannot run role {role['role']}: "
                              f"{error.message}") from None
        specs.append({**params, "recipe": recipe["name"], "recipeInstanceId": instance_id,
                      "role": role["role"]})
    return specs


def online_orchestrator(c, orchestrator_id: str) -> dict:
    orch = orchestrators.get(c, orchestrator_id)
    if orch is None:
        raise NotFound(f"orchestrator {orchestrator_id} not found")
    if orch["status"] != "online":
        raise Conflict(f"orchestrator {orchestrator_id} is {orch['status']}, not online")
    return orch


def recipe_named(book, name: str) -> dict:
    """A recipe of the book (bundled, or from RELAY_RECIPES_DIR)."""
    recipe = book.get(name)
    if recipe is None:
        raise NotFound(f"recipe {name} not found")
    return recipe


def get_instance(c, instance_id: str) -> dict:
    found = recipes.get(c, instance_id)
    if found is None:
        raise NotFound(f"recipe instance {instance_id} not found")
    return found


def start(c, recipe: dict, orchestrator_id: str, cwd, given: dict, t: int):
    """The start's change: (instance, events)."""
    orch = online_orchestrator(c, orchestrator_id)
    instance_id, request_ids = recipes.new_ids(len(recipe["roles"]))
    specs = spawn_specs(recipe, orch, cwd, given, instance_id, request_ids, t)
    roles, events = [], []
    for spec in specs:
        command, made = orchestration.create_command(c, {
            "type": "agent.spawn", "target": orch["agentId"],
            "correlationId": spec["spawnRequestId"], "params": spec}, t)
        events += made
        roles.append({"role": spec["role"], "provider": spec["provider"], "label": spec["label"],
                      "spawnRequestId": spec["spawnRequestId"], "commandId": command["id"]})
    recipes.create(c, instance_id, recipe["name"], orch["id"], specs[0]["cwd"], given, roles, t)
    instance = recipes.get(c, instance_id)
    return instance, events + [recipe_instance_event(instance)]


def stop(c, instance_id: str, t: int):
    """The stop's change: ({instance, commands}, events): an agent.shutdown per role that
    is starting or running (a starting role's spawn may already be under way)."""
    instance = get_instance(c, instance_id)
    if instance["status"] in ("stopping", "stopped"):
        raise Conflict(f"recipe instance {instance_id} is already {instance['status']}")
    orch = orchestrators.get(c, instance["orchestratorId"])
    stopping = recipes.stop_roles(c, instance_id, t)
    if orch is None and stopping:
        raise Conflict(f"orchestrator {instance['orchestratorId']} is gone: nothing can stop "
                       "the instance's agents")
    made, events = [], []
    for role in stopping:
        command, more = orchestration.create_command(c, {
            "type": "agent.shutdown", "target": orch["agentId"],
            "correlationId": role["spawnRequestId"],
            "params": {"action": "shutdown", "agentId": role["agentId"],
                       "spawnRequestId": role["spawnRequestId"],
                       "tmuxSession": role["tmuxSession"], "graceful": True, "timeoutMs": 10000,
                       "reason": "recipe-stop", "orchestratorId": orch["id"],
                       "requestedBy": "recipe", "requestedAt": t, "recipe": instance["recipe"],
                       "recipeInstanceId": instance_id, "role": role["role"]}}, t)
        made.append(command)
        events += more
    instance = recipes.refresh(c, instance_id, t)
    return {"instance": instance, "commands": made}, events + [recipe_instance_event(instance)]


# --- what moves a role ----------------------------------------------------------

def on_command(c, command: dict, t: int) -> list:
    """A recipe role's command changed status: a succeeded spawn runs the role, a failed,
    cancelled or expired one fails it; a succeeded shutdown stops it, a failed one fails it."""
    params = command["params"]
    request_id = params.get("spawnRequestId")
    if not isinstance(params.get("recipeInstanceId"), str) or not isinstance(request_id, str):
        return []
    kind, status = command["type"], command["status"]
    result = command["result"] or {}
    error = command["error"] or f"{kind} {status}"
    moved = None
    if kind == "agent.spawn" and status == "succeeded":
        agent, tmux = result.get("agentId"), result.get("tmuxSession")
        moved = recipes.move_role(c, request_id, ("starting",), "running", t,
                                  agent_id=agent if isinstance(agent, str) else None,
                                  tmux_session=tmux[:200] if isinstance(tmux, str) else None)
    elif kind == "agent.spawn" and status in ("failed", "cancelled", "expired"):
        moved = recipes.move_role(c, request_id, ("starting",), "failed", t, error=error)
    elif kind == "agent.shutdown" and status == "succeeded":
        moved = recipes.move_role(c, request_id, ("stopping",), "stopped", t)
    elif kind == "agent.shutdown" and status in ("failed", "cancelled", "expired"):
        moved = recipes.move_role(c, request_id, ("stopping",), "failed", t,
                                  error=f"shutdown: {error}")
    return changed(c, moved, t)


def on_agent(c, agent: dict, t: int) -> list:
    """An agent registered with a recipe role's spawnRequestId in its meta: the role runs
    with it (also before its spawn command reports success)."""
    request_id = (agent.get("meta") or {}).get("spawnRequestId")
    if not isinstance(request_id, str) or not request_id.startswith("rs_"):
        return []
    moved = recipes.move_role(c, request_id, ("starting",), "running", t, agent_id=agent["id"])
    return changed(c, moved or recipes.set_agent(c, request_id, agent["id"], t), t)


def changed(c, instance_id: str | None, t: int) -> list:
    if instance_id is None:
        return []
    return [recipe_instance_event(recipes.refresh(c, instance_id, t))]

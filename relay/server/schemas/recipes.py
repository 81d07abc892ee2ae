"""Recipes: team templates, their start body, and the running instances."""
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from ..contract import Answer, Body, Query
from .common import PROMPT_MAX, Id, Name, Names, Path, Provider, QInt, Text
from .policies import Args, PermissionMode

ROLES_MAX, VARS_MAX, VAR_MAX = 20, 50, 4000
VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ROLE_STATES = ("starting", "running", "stopping", "stopped", "failed")
INSTANCE_STATES = ROLE_STATES


def _roles(roles: list) -> list:
    if not 1 <= len(roles) <= ROLES_MAX:
        raise ValueError(f"must have 1 to {ROLES_MAX} roles")
    names = [r.role for r in roles]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"must have distinct role names: {name} is repeated")
    return roles


VarName = Annotated[str, StringConstraints(pattern=VAR_NAME)]
VarText = Annotated[str, Field(max_length=VAR_MAX)]
Vars = Annotated[dict[VarName, VarText], Field(max_length=VARS_MAX, description=(
    f"an object of at most {VARS_MAX} string values of at most {VAR_MAX} characters, named "
    "with letters, digits and _ (not starting with a digit, at most 64 characters)"),
    json_schema_extra={"additionalProperties": False})]       # only names of that pattern


class RecipeRole(Body):
    role: Id
    provider: Provider
    label: Name | None = None
    tags: Names = []
    capabilities: Names = []
    approvalMode: PermissionMode = "guarded"
    providerArgs: Args = []
    prompt: Annotated[str, Field(min_length=1, max_length=PROMPT_MAX)]


class Recipe(Body):
    # A recipe file. vars: a default per placeholder the prompts use; null means
    # the start must give it. No docstring: it would become an error's rule.
    name: Id
    description: Text(1000) = ""
    vars: Annotated[dict[VarName, VarText | None], Field(max_length=VARS_MAX)] = {}
    roles: Annotated[list[RecipeRole], AfterValidator(_roles)]


class StartIn(Body):
    orchestratorId: Id
    cwd: Path | None = None
    vars: Vars = {}


class InstanceFilter(Query):
    recipe: Text(240) | None = None
    status: Literal[INSTANCE_STATES] | None = None
    limit: QInt(1, 500) = 100


class RecipeOut(Answer):
    """A recipe as loaded; source is bundled or the RELAY_RECIPES_DIR file it came from."""
    name: str
    description: str
    vars: dict[str, str | None]
    roles: list[dict[str, Any]]
    source: str


class RoleState(Answer):
    role: str
    provider: str
    label: str | None
    status: Literal[ROLE_STATES]
    spawnRequestId: str
    commandId: str | None
    agentId: str | None
    tmuxSession: str | None
    error: str | None
    updatedAt: int


class Instance(Answer):
    id: str
    recipe: str
    orchestratorId: str
    cwd: str | None
    vars: dict[str, str]
    status: Literal[INSTANCE_STATES]
    roles: list[RoleState]
    createdAt: int
    updatedAt: int


class Started(Answer):
    instance: Instance


class Stopped(Answer):
    instance: Instance
    commands: list[dict[str, Any]]

"""Recipes: team templates, starting one on an orchestrator, and its instances."""
from flask import Blueprint, current_app

from ..contract import route
from ..domain import recipe_runs
from ..recipe_book import RecipeBook
from ..schemas.recipes import Instance, InstanceFilter, RecipeOut, Started, StartIn, Stopped
from ..store import recipes
from . import answer, commit, conn, now, relay

bp = Blueprint("recipes", __name__, url_prefix="/api")


def book() -> RecipeBook:
    found = current_app.extensions.get("recipes")
    if found is None:
        found = current_app.extensions["recipes"] = RecipeBook(relay().settings.recipes_dir)
    return found


@route(bp, "GET", "/recipes", "Every recipe, by name: the five bundled ones (code-review, "
       "feature, debug, refactor, test) and the *.json files of RELAY_RECIPES_DIR (which replace "
       "a bundled recipe of the same name). A file that is not a valid recipe is skipped and "
       "the reason logged. A recipe's vars are the defaults of its prompts' {{name}} "
       "placeholders (null: the start must give it).", answers={200: [RecipeOut]})
def list_recipes():
    return answer([recipe for _, recipe in sorted(book().all().items())])


@route(bp, "GET", "/recipes/<name>", "One recipe.", answers={200: RecipeOut, 404: "unknown recipe"})
def get_recipe(name):
    return answer(recipe_runs.recipe_named(book(), name))


@route(bp, "POST", "/recipes/<name>/start", "Start a team: one agent.spawn command per role for "
       "the orchestrator's agent, made as POST /api/orchestrators/:id/spawn makes it (each "
       "role's provider must be one the orchestrator offers (422 otherwise), cwd must resolve "
       "inside its baseDir (400 otherwise). {{name}} placeholders in prompts and labels take vars, then "
       "the recipe's defaults, then the built-ins cwd, orchestratorId, recipe, instanceId, "
       "role; a placeholder without a value is 400. Each role gets its own spawnRequestId "
       "(rs_...): a succeeded spawn command or an agent registering with it in meta runs the "
       "role; a failed, cancelled or expired spawn fails it. The instance is starting while a "
       "role starts, failed if one failed, else running. 409 when the orchestrator is not "
       "online. Emits command.created per role and recipe.instance.updated.",
       body=StartIn, answers={202: Started, 404: "unknown recipe or orchestrator",
                              409: "the orchestrator is not online",
                              422: "a role's provider the orchestrator does not offer"})
def start_recipe(name, body: StartIn):
    recipe = recipe_runs.recipe_named(book(), name)
    t = now()
    instance = commit(lambda c: recipe_runs.start(c, recipe, body.orchestratorId, body.cwd,
                                                  body.vars, t))
    return answer({"instance": instance}, 202)


@route(bp, "GET", "/recipe-instances", "Recipe instances, newest first (recipe, status, limit).",
       query=InstanceFilter, answers={200: [Instance]})
def list_instances(query: InstanceFilter):
    return answer(recipes.listing(conn(), recipe=query.recipe, status=query.status,
                                  limit=query.limit))


@route(bp, "GET", "/recipe-instances/<instance_id>", "One recipe instance with its roles.",
       answers={200: Instance, 404: "unknown recipe instance"})
def get_instance(instance_id):
    return answer(recipe_runs.get_instance(conn(), instance_id))


@route(bp, "POST", "/recipe-instances/<instance_id>/stop", "Stop a team: an agent.shutdown "
       "command per role that is starting or running (that role is stopping, then stopped when "
       "its shutdown succeeds, failed when it fails); failed roles are left as they are. The "
       "instance is stopping, then stopped. 409 when it is already stopping or stopped, or "
       "when its orchestrator is gone. Emits command.created per role and "
       "recipe.instance.updated.",
       answers={202: Stopped, 404: "unknown recipe instance",
                409: "already stopping or stopped, or the orchestrator is gone"})
def stop_instance(instance_id):
    t = now()
    return answer(commit(lambda c: recipe_runs.stop(c, instance_id, t)), 202)

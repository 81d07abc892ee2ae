"""Each route declared once: its body, its query, its answers.

`route()` registers a view on its blueprint and records the declaration. The
request is checked against the declared pydantic models before the view
runs (the view gets them as `body=` and `query=`), and the OpenAPI document
(openapi.py) is built from the same records, so the rule that is enforced
and the rule that is documented are one rule.
"""
from dataclasses import dataclass, field
from functools import lru_cache

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from . import strict_json
from .errors import ApiError, bad_request

MAX_ID = 2**63 - 1
ID_PATTERN = r"^[A-Za-z0-9._:@+-]{1,240}$"
# The sentence each pattern's failure is explained with.
NOT_BLANK = r"\S"
# A provider name (claude, codex, or a custom one an orchestrator offers): what
# RELAY_PROVIDER_<NAME> can name, read in lower case with _ as -.
PROVIDER_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
# A file system path: os.path refuses a NUL byte (ValueError), so it is a 400.
NO_NUL_PATTERN = r"^[^\x00]*$"
PATTERN_RULES = {ID_PATTERN: "1-240 characters of A-Z a-z 0-9 . _ : @ + -",
                 NO_NUL_PATTERN: "text without a NUL byte",
                 PROVIDER_PATTERN: "a provider name: a lower-case letter, then at most 63 "
                                   "lower-case letters, digits or -"}


class Body(BaseModel):
    """A JSON request body: exact types, no coercion; unknown fields are ignored."""
    model_config = ConfigDict(strict=True, extra="ignore")


class Query(BaseModel):
    """Query parameters: each field's type reads its text (schemas/common.py)."""
    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    """A response shape, for the document only: answers are built as dicts."""


class IdConverter(BaseConverter):
    """`<id:name>`: a positive integer id in ASCII digits within 64 bits; anything
    else is a 404 rather than an overflow in SQLite."""
    regex = r"[0-9]{1,19}"
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            # Not werkzeug's ValidationError: with it, a rule of another method
            # on the same path would make this a 405.
            raise NotFound()
        return number

    def to_url(self, value) -> str:
        return str(value)


class NameConverter(BaseConverter):
    """`<name:name>`: a client-chosen id that is not `events`, for a resource whose
    collection also has a route `/events` (integrations): otherwise both rules
    match that path, and its Allow header would offer the other's methods."""
    regex = r"(?!events(?![A-Za-z0-9._:@+-]))[A-Za-z0-9._:@+-]{1,240}"
    schema = {"type": "string", "pattern": "^(?!events$)[A-Za-z0-9._:@+-]{1,240}$"}


# Path converters by name; a plain `<name>` is a client-chosen id.
CONVERTERS = {"id": IdConverter, "name": NameConverter}
PLAIN_PATH = {"type": "string", "pattern": ID_PATTERN}


@dataclass
class Route:
    method: str
    path: str                  # the Flask rule, with the blueprint's prefix
    summary: str
    body: type[Body] | None = None
    query: type[Query] | None = None
    # status -> Model, [Model] (a list of), (Model, ...) (one of) or a description
    answers: dict = field(default_factory=dict)
    public: bool = False       # answered without the relay token
    stream: str | None = None  # a media type other than JSON (the event stream)


ROUTES: list[Route] = []


def route(bp, method: str, rule: str, summary: str, *, body=None, query=None, answers,
          public: bool = False, stream: str | None = None):
    """Declare a view: `@route(bp, "POST", "", "Send.", body=MessageIn, answers={...})`."""
    def decorate(view):
        def handler(**path):
            if body is not None:
                path["body"] = parse(body, read_body())
            if query is not None:
                path["query"] = parse(query, read_query())
            return view(**path)
        handler.__name__ = view.__name__
        bp.add_url_rule(rule, view.__name__, handler, methods=[method])
        ROUTES.append(Route(method, (bp.url_prefix or "") + rule, summary, body, query,
                            answers, public, stream))
        return view
    return decorate


def read_body() -> dict:
    """The request's JSON object; an empty body reads as {}."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    value = json_object(raw, "request body")
    return value


def json_object(raw, what: str) -> dict:
    try:
        value = strict_json.loads(raw)
    except strict_json.JsonError as error:
        raise bad_request(f"{what} is not valid JSON" if str(error) == "not valid JSON"
                          else f"{what}: {error}") from None
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be a JSON object")
    return value


def read_query() -> dict:
    return request.args.to_dict()


def parse(model: type[BaseModel], data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise bad_request(explain(model, error.errors(include_url=False)[0])) from None


# --- one sentence per failure, naming the field --------------------------------------

def explain(model: type[BaseModel], error: dict) -> str:
    loc = error["loc"]
    name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    kind = error["type"]
    if kind == "missing":
        return f"{name} is required"
    if kind == "value_error":
        return f"{name} {error['ctx']['error']}"
    # A field's description, where it has one, is the rule its error states.
    described = field_schema(model, loc[:1]).get("description")
    if described:
        return f"{loc[0]} must be {described}"
    schema = field_schema(model, loc)
    return f"{name} must {rule(schema, kind, error.get('ctx') or {}, issubclass(model, Query))}"


def rule(schema: dict, kind: str, ctx: dict, in_query: bool) -> str:
    if "enum" in schema:
        return "be one of " + ", ".join(str(choice) for choice in schema["enum"])
    if "const" in schema:
        return f"be {schema['const']}"
    kind_of = schema.get("type")
    if kind_of == "integer":
        return f"be an integer between {schema.get('minimum')} and {schema.get('maximum')}"
    if kind_of == "boolean":
        return "be 1, 0, true or false" if in_query else "be true or false"
    if kind_of == "object":
        if kind == "too_long" or "max_length" in ctx:
            return f"be at most {schema.get('maxProperties')} entries"
        return "be a JSON object"
    if kind_of == "array":
        if kind == "too_long":
            return f"have at most {ctx['max_length']} items"
        return "be a list"
    if kind in ("string_too_long", "too_long"):
        return f"be at most {ctx['max_length']} characters"
    if kind in ("string_too_short", "too_short") and kind_of == "string":
        return "not be empty"
    if kind == "string_pattern_mismatch":
        if ctx["pattern"] == NOT_BLANK:
            return "not be empty"          # blanks alone count as empty
        return "be " + PATTERN_RULES.get(ctx["pattern"], f"text matching {ctx['pattern']}")
    if kind_of == "string":
        return "be a string"
    return "be " + schema.get("description", "valid")


def field_schema(model: type[BaseModel], loc: tuple) -> dict:
    schemas = model_schema(model)
    schema = schemas
    for part in loc:
        schema = resolve(schemas, schema)
        if isinstance(part, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(part) or schema.get("additionalProperties") or {}
    return resolve(schemas, schema)


def resolve(root: dict, schema: dict) -> dict:
    """Follow a $ref, and take the non-null branch of a nullable field (keeping
    the field's own description)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(branches) != 1:
        return schema
    branch = resolve(root, branches[0])
    if "description" in schema:
        branch = {**branch, "description": schema["description"]}
    return branch


@lru_cache(maxsize=None)
def model_schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()

"""The OpenAPI 3.1 document served at GET /api/spec, built from the routes'
declarations (contract.py): the models that check a request are the
schemas that document it.

Where API.md is silent, the choice made is written into the route's summary.
"""
import re

from pydantic.json_schema import models_json_schema

from . import __version__
from .contract import CONVERTERS, PLAIN_PATH, ROUTES, Route, resolve
from .events import EVENT_TYPES
from .schemas.common import Error

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

ERROR = {"$ref": REF.format(model="Error")}
AUTOMATIC = {400: "bad input: the error names the field", 401: "missing or invalid relay token",
             413: "request body too large", 415: "Content-Type is not application/json"}
INFO = ("A self-hosted message bus for AI coding agents. Errors are always "
        "{\"error\": \"...\"}; times are epoch milliseconds. A write is answered only after it "
        "has committed (fsynced at RELAY_SYNCHRONOUS=FULL); its events are committed in the same "
        "transaction and streamed after it. Bodies are standard JSON: NaN, Infinity, unpaired "
        "surrogates and nesting deeper than 64 levels are a 400. Unknown fields are ignored.")


EVENT_TYPE = {"type": "string", "enum": list(EVENT_TYPES),
              "description": "the type of an event on GET /api/events (its `event:` line), "
                             "GET /api/ws and GET /api/events/recent"}


def document(settings) -> dict:
    bodies = {r.body for r in ROUTES if r.body}
    answers = {model for r in ROUTES for answer in r.answers.values()
               for model in models_of(answer)}
    _, defs = models_json_schema([(m, "validation") for m in bodies]
                                 + [(m, "serialization") for m in answers | {Error}],
                                 ref_template=REF)
    paths: dict = {}
    for r in ROUTES:
        path = _PATH_PARAM.sub(r"{\2}", r.path)
        paths.setdefault(path, {})[r.method.lower()] = operation(r, settings.token is not None)
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "relay", "version": __version__, "description": INFO},
        "servers": [{"url": f"http://{settings.host}:{settings.port}"}],
        "paths": paths,
        "components": {"schemas": {**defs.get("$defs", {}), "EventType": EVENT_TYPE}},
    }
    if settings.token:
        # Declared only when the running server asks for it (AGENT_RELAY_TOKEN).
        spec["components"]["securitySchemes"] = {
            "header": {"type": "apiKey", "in": "header", "name": "X-Agent-Relay-Token"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "query": {"type": "apiKey", "in": "query", "name": "token"}}
        spec["security"] = [{"header": []}, {"bearer": []}, {"query": []}]
    return spec


def models_of(answer) -> list:
    """The models an answer names: Model, [Model], or (Model, ...) for one of several."""
    if isinstance(answer, str):
        return []
    if isinstance(answer, (list, tuple)):
        return list(answer)
    return [answer]


def schema_of(answer) -> dict:
    if isinstance(answer, tuple):
        return {"anyOf": [schema_of(model) for model in answer]}
    if isinstance(answer, list):
        return {"type": "array", "items": {"$ref": REF.format(model=answer[0].__name__)}}
    return {"$ref": REF.format(model=answer.__name__)}


def operation(r: Route, secured: bool) -> dict:
    op = {"summary": r.summary.split(". ")[0].rstrip("."), "description": r.summary,
          "operationId": r.method.lower() + re.sub(r"\W+", "_", _PATH_PARAM.sub(r"\2", r.path))}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": CONVERTERS[converter].schema if converter else PLAIN_PATH}
                  for converter, name in _PATH_PARAM.findall(r.path)]
    if r.query:
        parameters += query_parameters(r.query)
    if parameters:
        op["parameters"] = parameters
    if r.body:
        required = bool(r.body.model_json_schema().get("required"))
        op["requestBody"] = {"required": required, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=r.body.__name__)}}}}
    responses = {}
    for status, answer in r.answers.items():
        responses[str(status)] = response(status, answer, r.stream)
    wanted = []
    if r.body or r.query or "<id:" in r.path:
        wanted.append(400)
    if r.body:
        wanted += [413, 415]
    if secured and not r.public:
        wanted.append(401)
    for status in wanted:
        responses.setdefault(str(status), response(status, AUTOMATIC[status], None))
    op["responses"] = responses
    if secured and r.public:
        op["security"] = []
    return op


def response(status: int, answer, stream: str | None) -> dict:
    if not isinstance(answer, str):
        return {"description": "ok", "content": {"application/json": {"schema": schema_of(answer)}}}
    if status >= 400:
        headers = {}
        if status in (429, 503):
            headers["Retry-After"] = {"schema": {"type": "string"}, "description": "seconds"}
        if status == 401:
            headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
        out = {"description": answer, "content": {"application/json": {"schema": ERROR}}}
        if headers:
            out["headers"] = headers
        return out
    if stream == "text/event-stream" and status == 200:
        return {"description": answer, "content": {stream: {"schema": {"type": "string"}}}}
    if status == 101:
        return {"description": answer}
    return {"description": answer, "content": {"application/json": {"schema": {"type": "object"}}}}


def query_parameters(model) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(resolve(schema, prop))
        description = prop.pop("description", None) or ""
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    return out

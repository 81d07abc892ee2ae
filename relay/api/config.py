"""The config store (API.md §9): entries, history, versions, namespace schemas."""
import re

from flask import Blueprint
from pydantic import create_model

from .. import orchestration
from ..contract import ID_PATTERN, PATTERN_RULES, Body, parse, route
from ..errors import bad_request, conflict, not_found
from ..events import config_changed
from ..masking import PROVIDER_CONFIG, masked_entry, unmasked_value
from ..schemas.common import Ok
from ..schemas.config import ConfigDelete, ConfigEntry, ConfigPut, HistoryQuery, HistoryRow, ProviderConfig
from ..schemas.policies import PROVIDERS, SpawnPolicy, stored
from ..store import config
from . import answer, commit, conn, now

bp = Blueprint("config", __name__, url_prefix="/api/config")

UNKNOWN = "no such key in the namespace"
STALE = "expectedVersion is not the key's current version"
_ID = re.compile(ID_PATTERN)
# namespace -> the schema its values are checked against, as {value: ...} so
# that an error names value.<field>.
SCHEMAS = {"spawn-policy": create_model("SpawnPolicyValue", __base__=Body, value=(SpawnPolicy, ...)),
           "provider-config": create_model("ProviderConfigValue", __base__=Body,
                                           value=(ProviderConfig, ...))}


def checked_name(value: str, field: str) -> str:
    if not _ID.fullmatch(value):
        raise bad_request(f"{field} must be {PATTERN_RULES[ID_PATTERN]}")
    return value


def checked_value(namespace: str, key: str, value):
    """The value to store: as given, or checked and completed by its namespace's schema."""
    schema = SCHEMAS.get(namespace)
    if schema is None:
        return value
    if namespace == "provider-config" and key not in PROVIDERS:
        raise bad_request("key must be one of " + ", ".join(PROVIDERS))
    parsed = parse(schema, {"value": value}).value
    if namespace == "spawn-policy":
        return {**stored(parsed), "name": key}
    return parsed.model_dump(exclude_none=True)


def put_entry(namespace: str, key: str, value, updated_by, expected) -> tuple[dict, bool]:
    """Set a (checked) value in one change; 409 when expectedVersion is stale."""
    t = now()

    def change(c):
        expect(c, namespace, key, expected)
        if namespace == "spawn-policy":
            orchestration.checked_policy(c, value)
        written = value
        if namespace == PROVIDER_CONFIG:
            stored = config.get(c, namespace, key)
            written = unmasked_value(value, stored and stored["value"])
        entry, created = config.put(c, namespace, key, written, t, updated_by)
        return (entry, created), [config_changed(entry, "set")]
    return commit(change)


def expect(c, namespace: str, key: str, expected: int | None) -> None:
    if expected is None:
        return
    current = config.version(c, namespace, key)
    if current != expected:
        raise conflict(f"expectedVersion {expected} is not the current version ({current}) "
                       f"of {namespace}/{key}")


def delete_change(namespace: str, key: str, updated_by, expected, t: int):
    def change(c):
        expect(c, namespace, key, expected)
        entry = config.delete(c, namespace, key, t, updated_by)
        if entry is None:
            raise not_found(f"config {namespace}/{key} not found")
        return entry, [config_changed(entry, "delete")]
    return change


@route(bp, "GET", "/<namespace>", "Every present entry of a namespace, ordered by key (an "
       "unknown namespace is an empty list; a name no key could have is 404).",
       answers={200: [ConfigEntry], 404: "not a namespace name"})
def list_entries(namespace):
    if not _ID.fullmatch(namespace):
        raise not_found(f"no namespace {namespace}: names are {PATTERN_RULES[ID_PATTERN]}")
    return answer([masked_entry(namespace, e) for e in config.listing(conn(), namespace)])


@route(bp, "GET", "/<namespace>/<key>", "One entry.", answers={200: ConfigEntry, 404: UNKNOWN})
def get_entry(namespace, key):
    entry = config.get(conn(), namespace, key)
    if entry is None:
        raise not_found(f"config {namespace}/{key} not found")
    return answer(masked_entry(namespace, entry))


@route(bp, "PUT", "/<namespace>/<key>", "Set a value: 201 when the key did not exist before "
       "(first time or after a delete), else 200. Versions only grow, also across a delete. "
       "expectedVersion (optional) must be the key's current version (that of its last set "
       "or delete; 0 for a key never written), else 409. spawn-policy values are checked and "
       "completed with their defaults; provider-config keys are claude or codex (their env "
       "values read \"***\" in every answer here: GET /api/providers/:provider/config?reveal=1 "
       "shows them).",
       body=ConfigPut, answers={201: ConfigEntry, 200: ConfigEntry, 409: STALE})
def put(namespace, key, body: ConfigPut):
    checked_name(namespace, "namespace")
    checked_name(key, "key")
    value = checked_value(namespace, key, body.value)
    entry, created = put_entry(namespace, key, value, body.updatedBy, body.expectedVersion)
    return answer(masked_entry(namespace, entry), 201 if created else 200)


@route(bp, "DELETE", "/<namespace>/<key>", "Delete a key (its version still grows; history "
       "keeps a delete row). Deleting a spawn-policy here does not stop its agent: DELETE "
       "/api/spawn-policy/:name does.", query=ConfigDelete,
       answers={200: Ok, 404: UNKNOWN, 409: STALE})
def delete(namespace, key, query: ConfigDelete):
    commit(delete_change(namespace, key, query.updatedBy, query.expectedVersion, now()))
    return answer({"ok": True})


@route(bp, "GET", "/<namespace>/<key>/history", "A key's history, newest first (an unknown "
       "key is an empty list).", query=HistoryQuery, answers={200: [HistoryRow]})
def history(namespace, key, query: HistoryQuery):
    checked_name(namespace, "namespace")
    checked_name(key, "key")
    return answer([masked_entry(namespace, row)
                   for row in config.history(conn(), namespace, key, query.limit)])

"""The config store (the /api/config summaries): entries, history, versions, namespace schemas."""
from flask import Blueprint

from ..contract import ID_PATTERN, PATTERN_RULES, route
from ..domain import config as domain
from ..domain.errors import NotFound
from ..masking import masked_entry
from ..schemas.common import Ok
from ..schemas.config import ConfigDelete, ConfigEntry, ConfigPut, HistoryQuery, HistoryRow
from ..store import config
from . import answer, commit, conn, now

bp = Blueprint("config", __name__, url_prefix="/api/config")

UNKNOWN = "no such key in the namespace"
STALE = "expectedVersion is not the key's current version"


@route(bp, "GET", "/<namespace>", "Every present entry of a namespace, ordered by key (an "
       "unknown namespace is an empty list; a name no key could have is 404).",
       answers={200: [ConfigEntry], 404: "not a namespace name"})
def list_entries(namespace):
    if not domain.is_name(namespace):
        raise NotFound(f"no namespace {namespace}: names are {PATTERN_RULES[ID_PATTERN]}")
    return answer([masked_entry(namespace, e) for e in config.listing(conn(), namespace)])


@route(bp, "GET", "/<namespace>/<key>", "One entry.", answers={200: ConfigEntry, 404: UNKNOWN})
def get_entry(namespace, key):
    return answer(masked_entry(namespace, domain.get(conn(), namespace, key)))


@route(bp, "PUT", "/<namespace>/<key>", "Set a value: 201 when the key did not exist before "
       "(first time or after a delete), else 200. Versions only grow, also across a delete. "
       "expectedVersion (optional) must be the key's current version (that of its last set "
       "or delete; 0 for a key never written), else 409. spawn-policy values are checked and "
       "completed with their defaults; provider-config keys are claude or codex (their env "
       "values read \"***\" in every answer here: GET /api/providers/:provider/config?reveal=1 "
       "shows them).",
       body=ConfigPut, answers={201: ConfigEntry, 200: ConfigEntry, 409: STALE})
def put(namespace, key, body: ConfigPut):
    domain.checked_name(namespace, "namespace")
    domain.checked_name(key, "key")
    value, t = domain.checked_value(namespace, key, body.value), now()
    entry, created = commit(lambda c: domain.put(c, namespace, key, value, body.updatedBy,
                                                 body.expectedVersion, t))
    return answer(masked_entry(namespace, entry), 201 if created else 200)


@route(bp, "DELETE", "/<namespace>/<key>", "Delete a key (its version still grows; history "
       "keeps a delete row). Deleting a spawn-policy here does not stop its agent: DELETE "
       "/api/spawn-policy/:name does.", query=ConfigDelete,
       answers={200: Ok, 404: UNKNOWN, 409: STALE})
def delete(namespace, key, query: ConfigDelete):
    t = now()
    commit(lambda c: domain.delete(c, namespace, key, query.updatedBy, query.expectedVersion, t))
    return answer({"ok": True})


@route(bp, "GET", "/<namespace>/<key>/history", "A key's history, newest first (an unknown "
       "key is an empty list).", query=HistoryQuery, answers={200: [HistoryRow]})
def history(namespace, key, query: HistoryQuery):
    domain.checked_name(namespace, "namespace")
    domain.checked_name(key, "key")
    return answer([masked_entry(namespace, row)
                   for row in config.history(conn(), namespace, key, query.limit)])

"""System routes: health, spec, stats, reap, broadcast."""
import logging

from flask import Blueprint

from relay import __version__
from .. import db
from ..contract import route
from ..openapi import document
from ..schemas.messages import Message
from ..schemas.system import BroadcastIn, Health, ReapResult, Stats
from ..domain import health as health_rules, messages
from ..store import retention, system
from . import answer, commit, conn, now, relay

bp = Blueprint("system", __name__, url_prefix="/api")
log = logging.getLogger("relay")


@route(bp, "GET", "/health", "Health (no auth). 503 when the database cannot be read. status "
       "is degraded when the reap thread is overdue by three periods. tables: per growing "
       "table, rows (an estimate from its row ids: newest minus oldest plus one, so rows "
       "deleted in between count; health stays cheap at any size) and the oldest row's age.",
       public=True,
       answers={200: Health, 503: Health})
def health():
    r = relay()
    t = now()
    dialect = db.dialect_of(r.settings.db)
    try:
        c = conn()
        tables = retention.figures(c, t)
        counts = system.health_counts(c, tables)
        size = dialect.size(r.settings.db, c)
    except dialect.Error as error:
        log.error("health: database unreadable: %s", error)
        return answer({"status": "degraded", "version": __version__,
                       "db": {"ok": False, "path": db.url_shown(r.settings.db),
                              "error": str(error)}}, 503)
    overdue = health_rules.reap_overdue(r.reaper, r.started_at, r.settings.reap_interval, t)
    return answer({
        "status": "degraded" if overdue else "ok",
        "version": __version__,
        "uptimeSeconds": (t - r.started_at) // 1000,
        "db": {"ok": True, **size},
        "streams": r.slots.snapshot(),
        "counts": counts,
        "tables": tables,
        "lastReapAt": r.reaper.last_reap_at,
        "workers": {name: worker.status() for name, worker in r.workers().items()},
    })


@route(bp, "GET", "/spec", "This OpenAPI document (no auth).", public=True,
       answers={200: "the OpenAPI 3.1 document"})
def spec():
    return answer(document(relay().settings))


@route(bp, "GET", "/stats", "Counts of messages by kind, agents by status, tasks by status, "
       "queued.", answers={200: Stats})
def stats():
    return answer(system.stats(conn()))


@route(bp, "POST", "/system/reap", "Run the reap cycle now; answers what changed, one entry "
       "per step. Retention (pruned*: rows deleted, at most 20 batches of 500 per table per "
       "cycle) then PRAGMA optimize and an incremental_vacuum of up to 2048 pages.",
       answers={200: ReapResult})
def reap():
    return answer(relay().reaper.run_once())


@route(bp, "POST", "/system/broadcast", "A broadcast message of kind system; emits "
       "message.new and system.broadcast.", body=BroadcastIn, answers={201: Message})
def broadcast(body: BroadcastIn):
    fields = {**body.model_dump(by_alias=True), "to": "broadcast", "kind": "system"}
    t = now()
    return answer(commit(lambda c: messages.broadcast(c, fields, t), ordered=True), 201)

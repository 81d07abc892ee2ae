"""System routes (API.md §11): health, spec, stats, reap, broadcast."""
import logging
import os
import sqlite3

from flask import Blueprint

from .. import __version__
from .. import validation as v
from ..events import Event, message_event
from ..openapi import document
from ..store import messages, system
from . import answer, commit, conn, now, relay

bp = Blueprint("system", __name__, url_prefix="/api")
log = logging.getLogger("relay")


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@bp.get("/health")
def health():
    r = relay()
    t = now()
    try:
        counts = system.health_counts(conn())
    except sqlite3.Error as error:
        log.error("health: database unreadable: %s", error)
        return answer({"status": "degraded", "version": __version__,
                       "db": {"ok": False, "path": r.settings.db, "error": str(error)}}, 503)
    last_reap = r.reaper.last_reap_at
    # The reap thread should have run within a few periods once started.
    overdue = (r.reaper.running and (last_reap or r.started_at)
               < t - 3000 * r.settings.reap_interval - 5000)
    return answer({
        "status": "degraded" if overdue else "ok",
        "version": __version__,
        "uptimeSeconds": (t - r.started_at) // 1000,
        "db": {"ok": True, "path": os.path.abspath(r.settings.db),
               "sizeBytes": file_size(r.settings.db),
               "walBytes": file_size(r.settings.db + "-wal")},
        "streams": r.slots.snapshot(),
        "counts": counts,
        "lastReapAt": last_reap,
    })


@bp.get("/spec")
def spec():
    return answer(document())


@bp.get("/stats")
def stats():
    return answer(system.stats(conn()))


@bp.post("/system/reap")
def reap():
    return answer(relay().reaper.run_once())


@bp.post("/system/broadcast")
def broadcast():
    body = v.json_body()
    fields = {
        "from": v.identifier(body, "from") or "system",
        "to": "broadcast",
        "kind": "system",
        "body": v.string(body, "body", required=True, max_len=v.BODY_MAX),
        "subject": v.string(body, "subject", max_len=v.SUBJECT_MAX),
    }
    t = now()

    def change(c):
        message, _ = messages.send(c, fields, t)
        return message, [message_event("message.new", message, message["from"]),
                         Event("system.broadcast", str(message["id"]), message,
                               {"to": "broadcast"}, message["from"])]
    return answer(commit(change), 201)

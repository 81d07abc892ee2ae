"""GET/POST /api/activity (API.md §8)."""
from flask import Blueprint

from .. import validation as v
from ..events import activity_event
from ..store import activity
from . import answer, commit, conn, now

bp = Blueprint("activity", __name__, url_prefix="/api/activity")


@bp.post("")
def post_activity():
    body = v.json_body()
    entry = {
        "clientId": v.string(body, "clientId", max_len=v.ID_MAX),
        "kind": v.choice(body, "kind", activity.KINDS, required=True),
        "title": v.string(body, "title", required=True, max_len=v.SUBJECT_MAX),
        "body": v.string(body, "body", max_len=v.BODY_MAX),
        "icon": v.string(body, "icon"),
        "view": v.string(body, "view"),
        "agentId": v.identifier(body, "agentId"),
        "meta": v.mapping(body, "meta"),
    }
    t = now()

    def change(c):
        stored, created = activity.add(c, entry, t)
        return (stored, created), [activity_event(stored) if created else None]
    stored, created = commit(change)
    return answer(stored, 201 if created else 200)


@bp.get("")
def list_activity():
    limit, _, before = v.page()
    kind = v.query_choice("kind", activity.KINDS)
    agent_id = v.query_string("agentId")
    return answer(activity.listing(conn(), kind=kind, agent_id=agent_id, before=before, limit=limit))

"""GET/POST /api/activity."""
from flask import Blueprint

from ..contract import route
from ..domain import activity as feed
from ..schemas.activity import Activity, ActivityFilter, ActivityIn
from ..store import activity
from . import answer, commit, conn, now

bp = Blueprint("activity", __name__, url_prefix="/api/activity")


@route(bp, "POST", "", "Add an activity entry; a repeated clientId is stored once (200 with "
       "the first). An empty clientId counts as none.", body=ActivityIn,
       answers={201: Activity, 200: Activity})
def post_activity(body: ActivityIn):
    entry, t = body.model_dump(), now()
    stored, created = commit(lambda c: feed.add(c, entry, t))
    return answer(stored, 201 if created else 200)


@route(bp, "GET", "", "The feed, newest first.", query=ActivityFilter, answers={200: [Activity]})
def list_activity(query: ActivityFilter):
    return answer(activity.listing(conn(), kind=query.kind, agent_id=query.agentId,
                                   before=query.before, limit=query.limit))

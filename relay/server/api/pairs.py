"""Pairs: invite, accept/decline/end, pair messages, list, get."""
from flask import Blueprint

from ..contract import route
from ..domain import pairs as domain
from ..schemas.messages import Message
from ..schemas.pairs import Pair, PairAction, PairFilter, PairIn, PairMessageIn
from ..store import pairs
from . import answer, commit, conn, now

bp = Blueprint("pairs", __name__, url_prefix="/api/pairs")

UNKNOWN = "unknown pair"


@route(bp, "POST", "", "Invite: a pending pair and a message of kind pair (payload {pairId, "
       "action: invite}; body the topic) to `to`. Both agents must be registered. The invite "
       "expires after 10 minutes (the reap cycle marks it expired). 409 while either agent "
       "has a pending (unexpired) or active pair: the check and the insert are one "
       "statement. Emits pair.updated and message.new.", body=PairIn,
       answers={201: Pair, 404: "unknown agent", 409: "either agent already has an open pair",
                422: "from and to are the same agent"})
def invite(body: PairIn):
    t = now()
    return answer(commit(lambda c: domain.invite(c, body.from_, body.to, body.topic, t),
                         ordered=True), 201)


@route(bp, "GET", "", "Pairs, newest first; agentId (either member) and status filters.",
       query=PairFilter, answers={200: [Pair]})
def list_pairs(query: PairFilter):
    return answer(pairs.listing(conn(), query.agentId, query.status, query.limit))


@route(bp, "GET", "/<id:pair_id>", "One pair.", answers={200: Pair, 404: UNKNOWN})
def get_pair(pair_id):
    return answer(domain.get(conn(), pair_id))


@route(bp, "POST", "/<id:pair_id>/actions", "accept (pending -> active) or decline (pending "
       "-> declined) by the invitee only; end (pending or active -> ended) by either member. "
       "The other member gets a message of kind pair (payload {pairId, action}). 403 for an "
       "agent that may not take the action; 409 from any other state (an invite past its "
       "10 minutes is expired). Emits pair.updated and message.new.", body=PairAction,
       answers={200: Pair, 403: "not the invitee, or not a member", 404: UNKNOWN,
                409: "the pair is not in a state the action starts from"})
def act(pair_id, body: PairAction):
    t = now()
    return answer(commit(lambda c: domain.act(c, pair_id, body.action, body.agentId, t)))


@route(bp, "POST", "/<id:pair_id>/messages", "A message of kind pair from one member to the "
       "other (payload gets pairId and action: message). 403 for a non-member, 409 unless the "
       "pair is active. Emits message.new.", body=PairMessageIn,
       answers={201: Message, 403: "not a member", 404: UNKNOWN, 409: "the pair is not active"})
def pair_message(pair_id, body: PairMessageIn):
    fields, t = body.model_dump(by_alias=True), now()
    return answer(commit(lambda c: domain.send(c, pair_id, body.from_, fields, t)), 201)

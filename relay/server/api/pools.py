"""Pools: put, list, get, delete."""
from flask import Blueprint

from ..contract import route
from ..domain import pools as domain
from ..schemas.common import Ok
from ..schemas.pools import Pool, PoolIn
from ..store import pools
from . import answer, commit, conn, now

bp = Blueprint("pools", __name__, url_prefix="/api/pools")

UNKNOWN = "unknown pool"


@route(bp, "PUT", "/<name>", "Create (201) or replace (200) a pool. An agent is a member when "
       "it matches every non-empty part of the selector (an empty selector matches every "
       "agent). members lists every matching agent whatever its status, by id; online counts "
       "those online, idle or busy, the ones a pool: message can go to. Putting a pool emits "
       "no pool.binding.changed: the answer shows its members.", body=PoolIn,
       answers={201: Pool, 200: Pool})
def put_pool(name, body: PoolIn):
    selector, t = body.selector.model_dump(), now()
    pool, created = commit(lambda c: domain.put(c, name, selector, body.strategy, t))
    return answer(pool, 201 if created else 200)


@route(bp, "GET", "", "Every pool with its members and online count, by name.",
       answers={200: [Pool]})
def list_pools():
    c = conn()
    return answer([pools.summary(c, p) for p in pools.listing(c)])


@route(bp, "GET", "/<name>", "One pool with members[] (agents) and the online count.",
       answers={200: Pool, 404: UNKNOWN})
def get_pool(name):
    c = conn()
    return answer(pools.summary(c, domain.get(c, name)))


@route(bp, "DELETE", "/<name>", "Delete a pool. Messages queued for it stay queued (and "
       "expire at their expiresAt) unless a pool of that name is put again.",
       answers={200: Ok, 404: UNKNOWN})
def delete_pool(name):
    return answer(commit(lambda c: domain.delete(c, name)))

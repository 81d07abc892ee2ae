"""Pools (README: A pool of three reviewers taking turns): named live groups of
agents; which member a pool: message goes to is picked in domain/addresses.py."""
from ..store import pools
from . import config
from .errors import NotFound


def get(c, name: str) -> dict:
    pool = pools.get(c, name)
    if pool is None:
        raise NotFound(f"pool {name} not found")
    return pool


def put(c, name: str, selector: dict, strategy: str, t: int):
    """Create or replace; ((the pool with its members, created), no events)."""
    config.checked_name(name, "name")
    pool, created = pools.put(c, name, selector, strategy, t)
    return (pools.summary(c, pool), created), []


def delete(c, name: str):
    if not pools.delete(c, name):
        raise NotFound(f"pool {name} not found")
    return {"ok": True}, []

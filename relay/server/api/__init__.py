"""The blueprints, and what every one of them uses from the running relay.

A route reads its input, hands one change (a domain function of the
connection, returning its result and events) to `commit()`, and answers JSON
once it has committed and published. No blueprint imports another.
"""
from flask import current_app, g

from ..responses import json_response


def relay():
    return current_app.extensions["relay"]


def conn():
    """This request's connection, borrowed from the pool until teardown."""
    r = relay()
    if r.committer.in_change():
        # Another request's thread may be running this change: only the
        # connection it was given is inside the transaction.
        raise RuntimeError("conn() inside a change: use the connection the change is given")
    if "db" not in g:
        g.db = r.connections.acquire()
    return g.db


def release_conn(_error=None) -> None:
    connection = g.pop("db", None)
    if connection is not None:
        relay().connections.release(connection)


def now() -> int:
    return relay().clock()


def commit(change, ordered: bool = False):
    """Run `change(conn) -> (result, events)` in a write transaction; after
    COMMIT its events are streamed and its result returned (committer.py;
    `ordered`: the change may insert messages)."""
    return relay().committer.commit(change, ordered=ordered)


def answer(body, status: int = 200):
    return json_response(body, status)


def blueprints():
    from . import activity, agents, messages, streams, system, websocket
    from . import channels, integrations, pairs, pools, tasks
    from . import commands, config, orchestrators, policies, providers, proxies
    from . import automations, recipes
    return [system.bp, agents.bp, activity.bp, messages.bp, streams.bp, websocket.bp,
            tasks.bp, integrations.bp, pools.bp, channels.bp, pairs.bp,
            commands.bp, config.bp, orchestrators.bp, policies.bp, proxies.bp, providers.bp,
            recipes.bp, automations.bp]

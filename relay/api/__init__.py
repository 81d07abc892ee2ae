"""The blueprints, and what every one of them uses from the running relay.

A route reads its input, runs one store call inside `write()`, publishes
the resulting events once that has committed, and answers JSON.
"""
from flask import current_app, g, jsonify

from .. import db


def relay():
    return current_app.extensions["relay"]


def conn():
    """This request's connection, borrowed from the pool until teardown."""
    if "db" not in g:
        g.db = relay().pool.acquire()
    return g.db


def release_conn(_error=None) -> None:
    connection = g.pop("db", None)
    if connection is not None:
        relay().pool.release(connection)


def now() -> int:
    return relay().clock()


def write():
    return db.transaction(conn())


def publish(*events) -> None:
    """Record and fan out events; only after this request's write has committed."""
    if conn().in_transaction:
        raise RuntimeError("publish() inside an open transaction: publish after commit")
    relay().publisher.publish([e for e in events if e is not None])


def answer(body, status: int = 200):
    response = jsonify(body)
    response.status_code = status
    return response


def blueprints():
    from . import activity, agents, messages, streams, system, websocket
    return [system.bp, agents.bp, activity.bp, messages.bp, streams.bp, websocket.bp]

"""The data-access module: one file per resource, plain SQL, plain dicts.

Store functions take a connection (and `now` where time matters), never
touch the request, never publish events; the caller owns the transaction.
"""
import json


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None, default=None):
    return json.loads(text) if text else default


def placeholders(values) -> str:
    return ",".join("?" * len(values))

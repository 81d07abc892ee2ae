"""The data-access module: one file per resource, plain SQL, plain dicts.

Store functions take a connection (and `now` where time matters), never
touch the request, never publish events; the caller owns the transaction.
"""
import json


# Most payload, meta, tags and readBy columns hold an empty object or list:
# those skip the JSON codec both ways.
_EMPTY = {"{}": dict, "[]": list}
_EMPTY_TEXT = {dict: "{}", list: "[]"}


def dumps(value) -> str:
    if not value and type(value) in _EMPTY_TEXT:
        return _EMPTY_TEXT[type(value)]
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None, default=None):
    if not text:
        return default
    empty = _EMPTY.get(text)
    return empty() if empty else json.loads(text)


def placeholders(values) -> str:
    return ",".join("?" * len(values))

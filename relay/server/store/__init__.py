"""The data-access module: one file per resource, plain SQL, plain dicts.

Store functions take a connection (and `now` where time matters), never
touch the request, never publish events; the caller owns the transaction.
"""
import json


# Most payload, meta, tags and readBy columns hold an empty object or list:
# those skip the JSON codec both ways.
_EMPTY = {"{}": dict, "[]": list}
_EMPTY_TEXT = {dict: "{}", list: "[]"}


class Record(dict):
    """A row as the API shows it, whose JSON text is made at most once: a
    sent message goes into the event log and into its answer as the same
    text. A Record is never changed once made (build a new one instead)."""

    __slots__ = ("_text",)

    def _frozen(self, *args, **kwargs):
        raise TypeError("a Record is not changed once made: build a new one")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _frozen

    def json(self) -> str:
        try:
            return self._text
        except AttributeError:
            self._text = _encode(self)
            return self._text


class JsonArray:
    """A list the API answers, already JSON text (the inbox poll's, made by
    SQLite: store/messages.py says why), and how many items it holds. Like
    the list it stands for, it is false when empty."""

    __slots__ = ("text", "count")

    def __init__(self, text: str, count: int):
        self.text, self.count = text, count

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


_encode = json.JSONEncoder(separators=(",", ":")).encode


def dumps(value) -> str:
    if type(value) is Record:
        return value.json()
    if type(value) is JsonArray:
        return value.text
    if not value and type(value) in _EMPTY_TEXT:
        return _EMPTY_TEXT[type(value)]
    return _encode(value)


def loads(text: str | None, default=None):
    if not text:
        return default
    empty = _EMPTY.get(text)
    return empty() if empty else json.loads(text)


def placeholders(values) -> str:
    return ",".join("?" * len(values))


def where(*conditions) -> tuple[str, tuple]:
    """A list route's filters: ' WHERE c1 AND c2 ...' and its arguments, from
    (sql, *args) conditions; one whose argument is None or '' (a filter not
    asked for) is left out, and with none left the clause is empty."""
    kept = [(sql, args) for sql, *args in conditions if all(a is not None and a != "" for a in args)]
    if not kept:
        return "", ()
    return " WHERE " + " AND ".join(sql for sql, _ in kept), tuple(a for _, args in kept for a in args)

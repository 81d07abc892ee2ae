"""Reading JSON as the API allows it: standard JSON only.

Python's json module accepts NaN and Infinity, reads 1e400 as infinity,
keeps an unpaired surrogate escape ("\\ud800") as a string that cannot be
encoded again, and recurses once per nesting level. Any of these, stored,
would make every later answer carrying it invalid or unencodable, so they
are refused here, before anything is validated or stored.
"""
import json
import math
import re

MAX_DEPTH = 64

# Only an escape can put a surrogate into a decoded string: raw UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonError(ValueError):
    """Input that is not standard JSON, or too deep; the message says which."""


def _no_constant(name: str):
    raise JsonError(f"{name} is not standard JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"{text} is out of range for a JSON number")
    return value


_decode = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite).decode


def depth(value) -> int:
    """Nesting depth of a decoded value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(raw: bytes | str):
    """Decode standard JSON, at most MAX_DEPTH levels deep; JsonError otherwise."""
    try:
        data = raw.encode() if isinstance(raw, str) else raw
    except UnicodeEncodeError:
        raise JsonError("JSON holds an unpaired surrogate (\\ud800-\\udfff)") from None
    try:
        value = _decode(data.decode("utf-8"))
    except JsonError:
        raise
    except RecursionError:
        raise JsonError(f"JSON is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise JsonError("not valid JSON") from None
    # Counting brackets is cheap; the walk runs only when they could be too deep.
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JsonError(f"JSON is nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonError("JSON holds an unpaired surrogate (\\ud800-\\udfff)") from None
    return value

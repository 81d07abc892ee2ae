"""Reading and checking request input: bodies, fields and query parameters.

Every check raises a 400 ApiError whose sentence names the field.
"""
import json
import re

from flask import request

from .errors import ApiError, bad_request

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@+-]{1,240}$")

ID_MAX = 240
NAME_MAX = 120
SUBJECT_MAX = 240
BODY_MAX = 65536
PROMPT_MAX = 4000
PATH_MAX = 500
LIST_MAX = 100


def json_body() -> dict:
    """The request's JSON object; an empty body reads as {}."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def string(body: dict, name: str, *, required: bool = False, max_len: int = NAME_MAX,
           default: str | None = None, label: str | None = None) -> str | None:
    label = label or name
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{label} is required")
        return default
    if not isinstance(value, str):
        raise bad_request(f"{label} must be a string")
    if required and not value.strip():
        raise bad_request(f"{label} must not be empty")
    if len(value) > max_len:
        raise bad_request(f"{label} must be at most {max_len} characters")
    return value


def identifier(body: dict, name: str, *, required: bool = False, label: str | None = None) -> str | None:
    value = string(body, name, required=required, max_len=ID_MAX, label=label)
    if value is not None:
        check_id(value, label or name)
    return value


def check_id(value: str, label: str) -> str:
    if not ID_PATTERN.match(value):
        raise bad_request(f"{label} must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -")
    return value


def integer(body: dict, name: str, lo: int, hi: int, *, required: bool = False,
            default: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise bad_request(f"{name} must be an integer between {lo} and {hi}")
    return value


def boolean(body: dict, name: str, *, default: bool | None = None) -> bool | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false")
    return value


def choice(body: dict, name: str, choices, *, default: str | None = None,
           required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return default
    if value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}")
    return value


def string_list(body: dict, name: str, *, max_items: int = LIST_MAX,
                max_len: int = NAME_MAX) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(f"{name} must be a list of non-empty strings")
    if len(value) > max_items:
        raise bad_request(f"{name} must have at most {max_items} items")
    if any(len(v) > max_len for v in value):
        raise bad_request(f"each of {name} must be at most {max_len} characters")
    return list(dict.fromkeys(value))


def mapping(body: dict, name: str, *, max_bytes: int = BODY_MAX) -> dict | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be a JSON object")
    if len(json.dumps(value)) > max_bytes:
        raise bad_request(f"{name} must be at most {max_bytes} bytes as JSON")
    return value


# --- query strings -------------------------------------------------------
# Each helper reads its one parameter; an empty value counts as absent.

def _query(name: str) -> str | None:
    args = request.args
    # werkzeug's get() raises and catches an exception for every absent key.
    return (args.get(name) or None) if name in args else None


def query_int(name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    raw = _query(name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise bad_request(f"{name} must be an integer between {lo} and {hi}")
    return int(raw)


def query_bool(name: str, default: bool | None = None) -> bool | None:
    raw = _query(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise bad_request(f"{name} must be 1, 0, true or false")


def query_string(name: str, *, max_len: int = ID_MAX, required: bool = False) -> str | None:
    return string({name: _query(name)}, name, required=required, max_len=max_len)


def query_choice(name: str, choices) -> str | None:
    return choice({name: _query(name)}, name, choices)


MAX_ID = 2**63 - 1


def page() -> tuple[int, int | None, int | None]:
    """The list conventions: (limit, since, before)."""
    limit = query_int("limit", 1, 500, 100)
    since = query_int("since", 0, MAX_ID)
    before = query_int("before", 1, MAX_ID)
    return limit, since, before


def cursor(raw: str, label: str) -> int:
    """An event or message id given as text (a header or query value)."""
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise bad_request(f"{label} must be a non-negative integer id")
    return int(raw)

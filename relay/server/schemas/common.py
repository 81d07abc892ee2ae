"""The field types every resource shares, each with its limit.

A body field is exact JSON (strict); a query field reads its text: only
ASCII digits are a number, only 1/0/true/false a boolean.
"""
import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints

from ..contract import (ID_PATTERN, MAX_ID, NO_NUL_PATTERN, NOT_BLANK, PROVIDER_PATTERN, Answer,
                        Query)

ID_MAX, NAME_MAX, SUBJECT_MAX, BODY_MAX, PROMPT_MAX, PATH_MAX = 240, 120, 240, 65536, 4000, 500
ADDRESS_MAX = 260
LIST_MAX = 100
JSON_MAX = 65536          # bytes of a payload/meta object as JSON


def _small_json(value: dict) -> dict:
    if value and len(json.dumps(value)) > JSON_MAX:
        raise ValueError(f"must be at most {JSON_MAX} bytes as JSON")
    return value


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


def Text(max_length: int):
    return Annotated[str, Field(max_length=max_length)]


def _integral(value):
    # JSON Schema counts 5.0 as the integer 5, and so do JavaScript clients.
    return int(value) if type(value) is float and value.is_integer() else value


def Int(lo: int, hi: int):
    return Annotated[int, Field(ge=lo, le=hi), BeforeValidator(_integral)]


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Path = Annotated[str, Field(max_length=PATH_MAX, pattern=NO_NUL_PATTERN)]
Name = Text(NAME_MAX)
Required = Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]   # not only blanks
# A field's description is also the rule its error states: "<field> must be <description>".
JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json), Field(
    description="a JSON object")]
Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=NAME_MAX)]],
                  Field(max_length=LIST_MAX, description=f"a list of at most {LIST_MAX} "
                        f"non-empty strings of at most {NAME_MAX} characters"),
                  AfterValidator(_unique)]
# claude, codex, or any custom provider name an orchestrator offers.
Provider = Annotated[str, StringConstraints(pattern=PROVIDER_PATTERN)]
Providers = Annotated[list[Provider], Field(max_length=LIST_MAX, description=(
    f"a list of at most {LIST_MAX} provider names (a lower-case letter, then at most 63 "
    "lower-case letters, digits or -)")), AfterValidator(_unique)]
MessageId = Int(1, MAX_ID)
Epoch = Int(0, 2**53)

# --- query text -------------------------------------------------------------------

_DIGITS = re.compile(r"-?[0-9]+")
_BOOLEANS = {"1": True, "true": True, "0": False, "false": False}


def _query_int(value):
    # Anything but ASCII digits stays text, and is refused as not an integer.
    if isinstance(value, str) and len(value) <= 20 and _DIGITS.fullmatch(value):
        return int(value)
    return value


def _query_bool(value):
    if isinstance(value, str):
        return _BOOLEANS.get(value.lower(), value)
    return value


def QInt(lo: int, hi: int):
    # The text is read first (the last validator runs first), then checked strictly.
    return Annotated[int, Strict(), Field(ge=lo, le=hi), BeforeValidator(_query_int)]


QBool = Annotated[bool, Strict(), BeforeValidator(_query_bool)]


def QText(max_length: int):
    """A query value: an empty one is refused, not read as absent."""
    return Annotated[str, Field(min_length=1, max_length=max_length)]


QId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Path = Annotated[str, Field(max_length=PATH_MAX, pattern=NO_NUL_PATTERN)]


class Page(Query):
    """The list conventions: limit, since (ascending), before (descending)."""
    limit: QInt(1, 500) = 100
    since: QInt(0, MAX_ID) | None = None
    before: QInt(1, MAX_ID) | None = None


class Ok(Answer):
    ok: bool


class Error(Answer):
    error: str
    requestId: str | None = None

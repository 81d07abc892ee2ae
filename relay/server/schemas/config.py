"""The config store: versioned JSON values by namespace/key."""
from typing import Annotated, Any, Literal

from pydantic import Field

from ..contract import Answer, Body, Query
from .common import Int, QInt, Text
from .policies import Args

ENV_MAX = 100


class ConfigPut(Body):
    value: Any = Field(description="any JSON value (required; spawn-policy and "
                       "provider-config values are checked against their schema)")
    updatedBy: Text(200) | None = None
    expectedVersion: Int(0, 2**53) | None = None


class ConfigDelete(Query):
    updatedBy: Text(200) | None = None
    expectedVersion: QInt(0, 2**53) | None = None


class HistoryQuery(Query):
    limit: QInt(1, 500) = 100


class ProviderConfig(Body):
    # A provider-config value (key claude or codex). No docstring: it would
    # become the rule an error states.
    model: Text(120) | None = None
    effort: Text(40) | None = None
    args: Args = []
    env: Annotated[dict[str, Annotated[str, Field(max_length=4000)]], Field(
        max_length=ENV_MAX, description=f"an object of at most {ENV_MAX} string values "
        "(at most 4000 characters each)")] = {}


class ConfigEntry(Answer):
    namespace: str
    key: str
    value: Any
    version: int
    updatedBy: str | None
    updatedAt: int


class HistoryRow(Answer):
    version: int
    value: Any
    action: Literal["set", "delete"]
    updatedBy: str | None
    updatedAt: int


"""The config store's rules (the /api/config summaries): names, the namespaces whose values
a schema checks (spawn-policy, provider-config), and expectedVersion."""
import re

from pydantic import create_model

from ..contract import ID_PATTERN, PATTERN_RULES, Body, parse
from ..events import config_changed
from ..masking import PROVIDER_CONFIG, unmasked_value
from ..schemas.config import ProviderConfig
from ..schemas.policies import PROVIDERS, SpawnPolicy, stored
from ..store import config
from . import orchestration
from .errors import Conflict, Invalid, NotFound

_ID = re.compile(ID_PATTERN)
# namespace -> the schema its values are checked against, as {value: ...} so
# that an error names value.<field>.
SCHEMAS = {
    "spawn-policy": create_model("SpawnPolicyValue", __base__=Body, value=(SpawnPolicy, ...)),
    "provider-config": create_model("ProviderConfigValue", __base__=Body,
                                    value=(ProviderConfig, ...))}


def is_name(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def checked_name(value: str, field: str) -> str:
    if not is_name(value):
        raise Invalid(f"{field} must be {PATTERN_RULES[ID_PATTERN]}")
    return value


def checked_value(namespace: str, key: str, value):
    """The value to store: as given, or checked and completed by its namespace's schema."""
    schema = SCHEMAS.get(namespace)
    if schema is None:
        return value
    if namespace == "provider-config" and key not in PROVIDERS:
        raise Invalid("key must be one of " + ", ".join(PROVIDERS))
    parsed = parse(schema, {"value": value}).value
    if namespace == "spawn-policy":
        return {**stored(parsed), "name": key}
    return parsed.model_dump(exclude_none=True)


def expect(c, namespace: str, key: str, expected: int | None) -> None:
    """expectedVersion, when given, must be the key's current version."""
    if expected is None:
        return
    current = config.version(c, namespace, key)
    if current != expected:
        raise Conflict(f"expectedVersion {expected} is not the current version ({current}) "
                       f"of {namespace}/{key}")


def get(c, namespace: str, key: str) -> dict:
    entry = config.get(c, namespace, key)
    if entry is None:
        raise NotFound(f"config {namespace}/{key} not found")
    return entry


def put(c, namespace: str, key: str, value, updated_by, expected: int | None, t: int):
    """Set a (checked) value; ((entry, created), events)."""
    expect(c, namespace, key, expected)
    if namespace == "spawn-policy":
        orchestration.checked_policy(c, value)
    if namespace == PROVIDER_CONFIG:
        # An env value given back masked ("***") keeps what is stored.
        stored_entry = config.get(c, namespace, key)
        value = unmasked_value(value, stored_entry and stored_entry["value"])
    entry, created = config.put(c, namespace, key, value, t, updated_by)
    return (entry, created), [config_changed(entry, "set")]


def delete(c, namespace: str, key: str, updated_by, expected: int | None, t: int):
    expect(c, namespace, key, expected)
    entry = config.delete(c, namespace, key, t, updated_by)
    if entry is None:
        raise NotFound(f"config {namespace}/{key} not found")
    return entry, [config_changed(entry, "delete")]

"""Secrets kept out of answers: provider-config env values read as "***".

The provider routes show them with ?reveal=1 (what an orchestrator reads
before it spawns); the generic config routes never do, so the store is not
a side door to them.
"""
MASK = "***"
PROVIDER_CONFIG = "provider-config"


def masked_value(value):
    """A provider-config value with every env value replaced by the mask."""
    if isinstance(value, dict) and isinstance(value.get("env"), dict):
        return {**value, "env": {name: MASK for name in value["env"]}}
    return value


def masked_entry(namespace: str, entry: dict) -> dict:
    """A config entry or history row as answered: provider-config env masked."""
    if namespace != PROVIDER_CONFIG:
        return entry
    return {**entry, "value": masked_value(entry["value"])}

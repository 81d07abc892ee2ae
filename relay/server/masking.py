"""Secrets kept out of answers: provider-config env values read as "***".

The provider routes show them with ?reveal=1 (what an orchestrator reads
before it spawns); the generic config routes never do, so the store is not
a side door to them. Written back, "***" means "keep the stored value", so
saving what a masked GET answered changes no secret.
"""
from .errors import bad_request

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


def unmasked_value(value, stored):
    """A provider-config value to write, each env value "***" replaced by the
    stored one; 400 naming the variable when none is stored."""
    if not (isinstance(value, dict) and isinstance(value.get("env"), dict)):
        return value
    kept = stored.get("env") if isinstance(stored, dict) else None
    env = {}
    for name, text in value["env"].items():
        if text == MASK:
            if not isinstance(kept, dict) or name not in kept:
                raise bad_request(f"value.env.{name} is {MASK!r} (keep the stored value) but "
                                  "no value is stored for it")
            text = kept[name]
        env[name] = text
    return {**value, "env": env}

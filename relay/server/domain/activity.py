"""The activity feed (GET/POST /api/activity): entries anyone may add, stored once per
clientId."""
from ..events import activity_event
from ..store import activity


def add(c, entry: dict, t: int):
    """((the entry, created), its event): a repeated clientId answers the first entry and
    tells nobody again; an empty clientId counts as none."""
    entry = {**entry, "clientId": entry.get("clientId") or None}
    stored, created = activity.add(c, entry, t)
    return (stored, created), [activity_event(stored) if created else None]

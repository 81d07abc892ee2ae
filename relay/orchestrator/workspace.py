"""The base dir: every cwd a spawn runs in, and every directory listed, is inside it.

Paths are resolved (symlinks and `..`) before they are compared, and compared by path
component, so `/srv/app-evil` is not inside `/srv/app` and a symlink pointing out is
out. The relay checks this too; the orchestrator does not rely on it.
"""
import os


class Outside(ValueError):
    """A path that does not resolve inside the base dir (the message says which)."""


def resolve(base: str, path: str | None) -> str:
    """`path` (relative to base, or absolute) resolved, when it is inside base."""
    root = os.path.realpath(base)
    given = path or root
    full = os.path.realpath(os.path.join(root, given))
    if os.path.commonpath([root, full]) != root:
        raise Outside(f"cwd {given} is outside the base dir {root} (resolved to {full})")
    return full


def directory(base: str, path: str | None) -> str:
    """A directory inside base; Outside or NotADirectoryError otherwise."""
    full = resolve(base, path)
    if not os.path.isdir(full):
        raise NotADirectoryError(f"cwd {path} is not a directory")
    return full


def listing(base: str, path: str | None) -> dict:
    """`{path, parent, directories: [{name, path}]}`: the subdirectories of a directory inside
    base (hidden ones and links leading out left out), by name; parent is null at base."""
    root = os.path.realpath(base)
    full = directory(base, path)
    entries = []
    with os.scandir(full) as scan:
        for entry in scan:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            target = os.path.realpath(entry.path)
            if os.path.commonpath([root, target]) == root:
                entries.append({"name": entry.name, "path": os.path.join(full, entry.name)})
    entries.sort(key=lambda e: e["name"])
    parent = None if full == root else os.path.dirname(full)
    return {"path": full, "parent": parent, "directories": entries}

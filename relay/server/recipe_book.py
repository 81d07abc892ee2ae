"""Recipe files: the bundled ones (relay/server/recipes/*.json) and those in
RELAY_RECIPES_DIR, which replace a bundled recipe of the same name.

A file that cannot be read or does not hold a valid recipe is skipped, with
the reason logged once (again only when the file changes); the other
recipes are still served. Files are read again when they change, so a
recipe can be edited without a restart.
"""
import json
import logging
import threading
from pathlib import Path

from pydantic import ValidationError

from .contract import explain
from .schemas.recipes import Recipe

log = logging.getLogger("relay.recipes")

BUNDLED = Path(__file__).resolve().parent / "recipes"


class RecipeBook:
    def __init__(self, extra_dir: str | None = None):
        self.dirs = [(BUNDLED, "bundled")] + ([(Path(extra_dir), None)] if extra_dir else [])
        self._files: dict[Path, tuple] = {}       # path -> (stamp, recipe or None)
        self._missing: set[Path] = set()
        self._warned: set[tuple] = set()          # duplicates already logged
        self._lock = threading.Lock()

    def all(self) -> dict[str, dict]:
        """Every valid recipe by name: bundled first, then the directory's (which win)."""
        with self._lock:
            found = {}
            for folder, source in self.dirs:
                seen = {}
                for path in self._paths(folder):
                    recipe = self._load(path)
                    if recipe is None:
                        continue
                    if recipe["name"] in seen:
                        self._duplicate(path, recipe["name"], seen[recipe["name"]])
                        continue
                    seen[recipe["name"]] = path
                    found[recipe["name"]] = {**recipe, "source": source or str(path)}
            return found

    def get(self, name: str) -> dict | None:
        return self.all().get(name)

    def _duplicate(self, path: Path, name: str, first: Path) -> None:
        if (path, name, first) not in self._warned:
            self._warned.add((path, name, first))
            log.warning("recipe file %s skipped: recipe %s is already defined by %s",
                        path, name, first)

    def _paths(self, folder: Path) -> list[Path]:
        try:
            paths = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
        except OSError as error:
            if folder not in self._missing:
                log.warning("recipe directory %s cannot be read: %s", folder, error)
                self._missing.add(folder)
            return []
        self._missing.discard(folder)
        return paths

    def _load(self, path: Path) -> dict | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        recipe, why = read(path)
        if why:
            log.warning("recipe file %s skipped: %s", path, why)
        self._files[path] = (stamp, recipe)
        return recipe


def read(path: Path) -> tuple[dict | None, str | None]:
    """(recipe, None) or (None, why the file is not a recipe)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return None, f"cannot be read ({error})"
    except ValueError as error:
        return None, f"is not valid JSON ({error})"
    if not isinstance(data, dict):
        return None, "must hold a JSON object"
    try:
        return Recipe.model_validate(data).model_dump(), None
    except ValidationError as error:
        return None, explain(Recipe, error.errors(include_url=False)[0])

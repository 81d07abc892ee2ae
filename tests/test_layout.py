"""Which module may import which (README: Layout), read from the source."""
import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "relay" / "server"
API_SHARED = {"answer", "commit", "conn", "now", "relay", "release_conn", "blueprints"}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module as written, names) of every import in the file, relative dots kept."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def files(folder: str) -> list[Path]:
    return sorted((SERVER / folder).glob("*.py"))


def test_no_blueprint_imports_another():
    offending = [f"{path.name}: from {module} import {', '.join(names)}"
                 for path in files("api") if path.name != "__init__.py"
                 for module, names in imports(path)
                 if (module == "." and set(names) - API_SHARED)
                 or (module.startswith(".") and not module.startswith("..") and module != ".")]
    assert offending == []


def test_the_server_imports_no_view():
    for name in ("serving.py", "runtime.py", "automations.py", "reaper.py", "lifecycle.py",
                 "callbacks.py", "streaming.py"):
        assert [m for m, _ in imports(SERVER / name) if m.startswith(".api")] == [], name


def test_the_store_is_data_access_only():
    for path in files("store"):
        for module, names in imports(path):
            assert not module.startswith(("..errors", "..domain", "..api", "flask")), path.name


def test_the_domain_imports_no_view_and_reads_no_request():
    for path in files("domain"):
        for module, names in imports(path):
            assert not module.startswith(("..api", "flask")), (path.name, module)
        assert "test_client" not in path.read_text()


def test_workers_call_the_domain_not_a_test_client():
    assert "test_client" not in (SERVER / "automations.py").read_text()
    assert "_caused" not in (SERVER / "automations.py").read_text()


def test_the_agent_side_imports_nothing_of_the_server():
    agent_side = [p for half in ("client", "orchestrator")
                  for p in sorted((SERVER.parent / half).rglob("*.py"))]
    assert agent_side
    offending = [f"{p.relative_to(SERVER.parent)}: {module}" for p in agent_side
                 for module, _ in imports(p)
                 if module.startswith("relay.server") or module.lstrip(".") == "server"
                 or (module.startswith("..") and module.lstrip(".").startswith("server"))
                 or module.startswith(("flask", "werkzeug"))]
    assert offending == []

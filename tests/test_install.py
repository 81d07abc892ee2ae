"""A built wheel, installed in a fresh venv, creates and migrates a database.

SLOW (about 10-30 s): it builds the wheel (pip, build isolation) and makes a
venv. It stays in the suite: it is the only test that sees the package as a
user installs it, away from the checkout (where schema.sql is at the top level
and relay/server/schema.sql links to it).
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".schemathesis", "tests", "bench", "*.db*")


def run(*args, **kwargs):
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_init_db(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
        str(source))
    wheel, = (tmp_path / "dist").glob("relay-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
        str(wheel))
    # The dependencies come from this test's environment (no network needed);
    # a plain path entry, so this environment's editable relay is not seen.
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "PYTHON"))}
    where = run(str(python), "-c", "import relay.server.db as d; print(d.__file__)",
                cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(str(venv))
    database = tmp_path / "fresh.db"
    out = run(str(venv / "bin" / "relay"), "init-db", "--db", str(database), cwd=tmp_path, env=env)
    from relay.server.db import SCHEMA_VERSION
    assert out.stdout.strip().endswith(f"at schema version {SCHEMA_VERSION}")
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agents", "messages", "tasks", "events"} <= tables

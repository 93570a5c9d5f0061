#!/usr/bin/env python3
"""Set up planmap's environment and run it: ``python3 manage.py serve`` or ``python3 manage.py test``.

Only the Python standard library is used here, so the two commands work on a fresh clone with nothing but
python3 (3.11) and access to PyPI. The virtual environment lives in ``.venv`` and is refreshed whenever
``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    """Run a command from the repository root and return its exit code."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def ensure_env(extras: str) -> None:
    """Create ``.venv`` and install planmap (editable) with the given extras, once per pyproject change."""
    if not PY.exists():
        if _run(sys.executable, "-m", "venv", VENV) != 0:
            sys.exit("could not create the virtual environment")
        _run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".planmap-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    if _run(PY, "-m", "pip", "install", "--quiet", "-e", target) != 0:
        sys.exit("pip install failed")
    stamp.write_text(digest)


def serve(args: list[str]) -> int:
    """Build the demo data if it is absent and serve on http://127.0.0.1:8000."""
    ensure_env("")
    planmap = BIN / "planmap"
    rc = _run(planmap, "build-demo", "--if-missing")
    if rc != 0:
        return rc
    return _run(planmap, "serve", "--host", "127.0.0.1", "--port", "8000", *args)


def test(args: list[str]) -> int:
    """Lint, type-check, check the import layering and run the whole test suite."""
    ensure_env("dev")
    checks = [
        (BIN / "ruff", "check", "geo", "layers", "server", "tests", "manage.py"),
        (BIN / "ruff", "format", "--check", "geo", "layers", "server", "tests", "manage.py"),
        (BIN / "mypy", "geo", "layers", "server"),
        (BIN / "lint-imports",),
    ]
    failed = [c[0].name for c in checks if _run(*c) != 0]
    workers = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) else ["-n", "2"]
    rc = _run(PY, "-m", "pytest", *workers, *args)
    if failed:
        print(f"checks failed: {', '.join(failed)}", flush=True)
        return rc or 1
    return rc


def main() -> int:
    """Dispatch ``serve`` or ``test``."""
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        print("usage: python3 manage.py {serve|test} [extra arguments]")
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

"""Run benchmarks: ``python tests/bench/run.py export [args]`` runs ``bench_export.main(args)``; ``all`` runs each."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    """Import ``bench_<name>.py`` from this directory and call its ``main`` with the remaining arguments."""
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if argv and argv[0] == "all":
        return max(main([name, *argv[1:]]) for name in names)
    if not argv or argv[0] not in names:
        print(f"usage: run.py NAME [args]; benchmarks: {', '.join(names)}", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location(f"bench_{argv[0]}", HERE / f"bench_{argv[0]}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

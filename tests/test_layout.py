"""The three import packages are this repository's, and the layering holds."""

import ast
import subprocess
import sys
from pathlib import Path

import geo
import layers
import server

ROOT = Path(__file__).resolve().parents[1]


def test_packages_resolve_inside_the_repository():
    for package in (geo, layers, server):
        assert Path(package.__file__).resolve().parent.parent == ROOT


def test_core_and_domain_do_not_import_web_frameworks():
    code = (
        "import sys, geo.crs, geo.measure, geo.storage.gpkg, layers.registry, layers.progress, layers.query;"
        "bad = [m for m in ('fastapi', 'starlette', 'folium', 'uvicorn') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken" in result.stdout


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in sorted(p for package in ("geo", "layers", "server") for p in (ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("geo", "layers", "server"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                offenders += [f"{path.relative_to(ROOT)}: {node.module}.{name}" for name in private]
    assert offenders == []


def test_no_formatter_escapes():
    skipped = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("geo", "layers", "server", "tests")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "fmt: " + "skip" in line or "fmt: " + "off" in line
    ]
    assert skipped == []

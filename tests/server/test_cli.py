"""The planmap command line: info on the demo data, build-demo --if-missing."""

import shutil
import subprocess
import sys
from pathlib import Path


def _planmap(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("planmap")
    return subprocess.run(
        [str(exe), "--data-dir", str(data_dir), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_info_lists_every_layer_with_count_target_and_progress(demo_gpkg, tmp_path, registry):
    shutil.copyfile(demo_gpkg, tmp_path / "planmap.gpkg")
    result = _planmap("info", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[2:] if line.strip()}
    assert set(lines) == set(registry.ids())
    assert "100,000 亩" in lines["farmland"] and "25 座" in lines["reservoirs"]
    assert " 144 " in lines["old-communities"] and "%" in lines["old-communities"]
    assert lines["counties"].split()[2] == "6"


def test_build_demo_if_missing_keeps_existing_data(demo_gpkg, tmp_path):
    target = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, target)
    before = target.stat().st_mtime_ns
    result = _planmap("build-demo", "--if-missing", data_dir=tmp_path)
    assert result.returncode == 0 and "not rebuilding" in result.stdout
    assert target.stat().st_mtime_ns == before


def test_info_without_data_says_what_to_do(tmp_path):
    result = _planmap("info", data_dir=tmp_path)
    assert result.returncode == 1 and "build-demo" in result.stderr


def test_plan_commands_copy_load_and_activate(demo_gpkg, tmp_path):
    import json

    shutil.copyfile(demo_gpkg, tmp_path / "planmap.gpkg")
    listed = _planmap("plan", "list", data_dir=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split()[:3] == ["*", "2025", "active"]
    assert _planmap("plan", "copy", "2025", "2026", data_dir=tmp_path).returncode == 0
    shown = _planmap("plan", "show", "2026", data_dir=tmp_path)
    plan = json.loads(shown.stdout)
    assert plan["status"] == "draft" and plan["targets"][0]["due"].startswith("2026")
    plan["targets"][0]["value"] = 90000
    (tmp_path / "p.json").write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    loaded = _planmap("plan", "load", str(tmp_path / "p.json"), data_dir=tmp_path)
    assert loaded.returncode == 0 and "version 2" in loaded.stdout
    assert _planmap("plan", "status", "2026", "active", data_dir=tmp_path).returncode == 0
    listed = _planmap("plan", "list", data_dir=tmp_path).stdout.splitlines()
    assert listed[1].split()[:2] == ["*", "2026"]
    info = _planmap("info", data_dir=tmp_path)
    assert "plan: 2026" in info.stdout and "90,000 亩" in info.stdout
    plan["targets"][0]["quotas"] = {"999999": 1}
    (tmp_path / "bad.json").write_text(json.dumps(plan), encoding="utf-8")
    bad = _planmap("plan", "load", str(tmp_path / "bad.json"), data_dir=tmp_path)
    assert bad.returncode == 2 and "unknown county" in bad.stderr and "Traceback" not in bad.stderr
    missing = _planmap("plan", "show", "2040", data_dir=tmp_path)
    assert missing.returncode == 2 and "no plan for 2040" in missing.stderr


def test_data_from_a_newer_planmap_is_refused_with_a_message_not_a_traceback(demo_gpkg, tmp_path):
    import sqlite3

    target = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE planmap_alembic_version SET version_num = '0099'")
    for command in (["info"], ["serve", "--workers", "2", "--port", "1"]):
        result = _planmap(*command, data_dir=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "schema revision 0099" in result.stderr and "newer planmap" in result.stderr
        assert "Traceback" not in result.stderr

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

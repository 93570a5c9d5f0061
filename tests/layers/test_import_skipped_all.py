"""Every skipped row is written out (CLI ``--skipped-csv``, the import page's CSV), not only the 500 listed."""

from __future__ import annotations

import csv
import io
import json

import pytest

import geopandas as gpd
import shapely

from layers.import_report import MAX_LISTED
from layers.import_zh import every_skipped_csv
from layers.importer import ImportOptions, import_file
from server.cli import main as cli_main

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

MAPPING = {"PARCEL_ID": "id", "PRJ_NAME": "name", "status": {"column": "STATE", "values": {"built": "completed"}}}
OUTSIDE = MAX_LISTED + 37
"""More rows outside the city than a report lists."""


def source_file(tmp_path):
    """Three parcels inside the city and ``OUTSIDE`` near Beijing, with a foreign status vocabulary."""
    inside = [shapely.box(112.9 + i * 0.001, 27.85, 112.9005 + i * 0.001, 27.8505) for i in range(3)]
    outside = [shapely.box(116.4 + i * 0.001, 39.9, 116.4005 + i * 0.001, 39.9005) for i in range(OUTSIDE)]
    frame = gpd.GeoDataFrame(
        {
            "PARCEL_ID": [f"S-{i}" for i in range(len(inside) + len(outside))],
            "PRJ_NAME": [f"地块{i}" for i in range(len(inside) + len(outside))],
            "STATE": "built",
        },
        geometry=inside + outside,
        crs=4326,
    )
    path = tmp_path / "parcels.gpkg"
    frame.to_file(path, layer="parcels", driver="GPKG")
    return path


def _rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_every_skipped_row_is_written_though_the_report_lists_500(writable_store, registry, tmp_path):
    options = ImportOptions(mapping=MAPPING, mode="upsert", dry_run=True, on_invalid="skip")
    report = import_file(writable_store, registry.get("farmland"), source_file(tmp_path), options)
    assert report.skipped_rows == OUTSIDE and len(report.skipped) == MAX_LISTED
    rows = _rows(every_skipped_csv(report))
    assert len(rows) == OUTSIDE
    assert [r["编号"] for r in rows] == [f"S-{i}" for i in range(3, 3 + OUTSIDE)]
    assert [r["行号"] for r in rows] == [str(i + 1) for i in range(3, 3 + OUTSIDE)]
    assert all("outside" in r["reason"] and r["原因"] and r["原因"] != r["reason"] for r in rows)


def test_cli_writes_every_skipped_row(demo_gpkg, tmp_path, monkeypatch, capsys):
    import shutil

    store = tmp_path / "planmap.gpkg"
    shutil.copy(demo_gpkg, store)
    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(store))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING), encoding="utf-8")
    out = tmp_path / "skipped.csv"
    args = ["import", "farmland", str(source_file(tmp_path)), "--mapping", str(mapping), "--mode", "upsert"]
    code = cli_main([*args, "--on-invalid", "skip", "--dry-run", "--skipped-csv", str(out)])
    assert code == 0, capsys.readouterr()
    assert f"skipped {OUTSIDE} row(s)" in capsys.readouterr().out
    assert len(_rows(out.read_bytes())) == OUTSIDE

"""Import jobs on disk (ids, owners, clean-up), the datum guess, the Chinese problems and the skipped-rows CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from geo.chinacoords import wgs84_to_bd09, wgs84_to_gcj02
from geo.crsguess import datum_offsets, guess_datum
from layers.errors import UnknownImportJob
from layers.import_jobs import JOB_FILE, ImportJobs
from layers.import_zh import problem_zh, skipped_csv


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_jobs_belong_to_their_user_and_refuse_foreign_ids(tmp_path):
    jobs = ImportJobs(tmp_path, max_age_s=60)
    job, path = jobs.create("li", "reservoirs")
    assert path.parent == tmp_path and path.name == f"planmap-importjob-{job['id']}"
    assert jobs.load(job["id"], "li")["layer"] == "reservoirs"
    for bad in ("../../etc", job["id"].upper(), job["id"][:-1], ""):
        with pytest.raises(UnknownImportJob):
            jobs.directory(bad)
    with pytest.raises(UnknownImportJob):
        jobs.load(job["id"], "wu")
    assert jobs.update(job["id"], status="inspected")["status"] == "inspected"
    assert json.loads((path / JOB_FILE).read_text("utf-8"))["status"] == "inspected"
    jobs.shutdown()


def test_old_jobs_are_swept_but_running_ones_kept(tmp_path):
    clock = Clock()
    jobs = ImportJobs(tmp_path, max_age_s=60, clock=clock)
    old, old_path = jobs.create("li", "reservoirs")
    busy, busy_path = jobs.create("li", "reservoirs")
    jobs.update(busy["id"], status="committing")
    (tmp_path / "planmap-other-upload").mkdir()
    clock.now += 61
    fresh, fresh_path = jobs.create("li", "reservoirs")  # making a job sweeps the stale ones
    assert not old_path.exists() and busy_path.exists() and fresh_path.exists()
    assert (tmp_path / "planmap-other-upload").exists()
    jobs.shutdown()


def test_datum_is_told_from_known_positions():
    lon, lat = np.array([112.90, 112.95, 113.01]), np.array([27.80, 27.86, 27.91])
    for datum, convert in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        offsets = datum_offsets(*convert(lon, lat), lon, lat)
        assert guess_datum(offsets) == datum and offsets[datum] < 0.5 and offsets["wgs84"] > 300
    assert guess_datum(datum_offsets(lon, lat, lon, lat)) == "wgs84"
    assert guess_datum(datum_offsets(lon + 0.01, lat, lon, lat)) is None  # 1 km off under every datum
    assert datum_offsets([], [], [], []) == {}


def test_problems_in_chinese_and_the_csv_for_excel():
    assert problem_zh("'规划' is not one of planned, in_progress, completed").startswith("'规划' 不是可选值")
    assert problem_zh("expected a number, got '十'") == "应为数字，实际为 '十'"
    assert problem_zh("something new") == "something new"
    warning = "the file declares no CRS; OGC:CRS84 was inferred from the coordinate ranges"
    assert problem_zh(warning) == "文件未声明坐标系，根据坐标范围推断为 OGC:CRS84"
    refusal = "applying would be refused: the import would remove 5 of the 9 stored features, more than the 0"
    assert problem_zh(refusal) == "确认导入将被拒绝：导入将删除已有 9 条中的 5 条，超过允许的数量"
    issue = {"row": 3, "location": None, "id": '=HYPERLINK("x")', "column": "geometry", "problem": "no geometry"}
    data = skipped_csv([{**issue, "problem_zh": problem_zh(issue["problem"])}])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ["3", "", '\'=HYPERLINK("x")', "geometry", "缺少几何（坐标为空）", "no geometry"]

"""The analyst notebooks run end to end against a real uvicorn server on the demo data, and say the right things."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import geopandas as gpd
import shapely

from geo.crs import gk_zone_for_bounds
from geo.measure import geodesic_area_m2, m2_to_mu
from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def live_api(demo_gpkg, app_factory, serve):
    """A real uvicorn server (in a thread) serving the demo GeoPackage; yields its base URL."""
    with serve(app_factory(demo_gpkg)) as base:
        yield base


def run_notebook(name: str, base: str, workdir: Path, monkeypatch) -> list[str]:
    """Execute a notebook with the venv's own kernel; return each code cell's output text."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    monkeypatch.setenv("PLANMAP_API", base)  # the kernel process inherits the environment
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # No kernel directories: the "python3" spec is the native one of this interpreter (the venv's),
    # never a user-wide or system kernel installed elsewhere.
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workdir)}})
    client.execute()
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
        texts.append("".join(parts))
    return texts


@pytest.fixture(scope="module")
def store(demo_gpkg):
    with GeoPackageStore(demo_gpkg) as s:
        yield s


def test_01_read_api(live_api, tmp_path, monkeypatch, store):
    outputs = "\n".join(run_notebook("01_read_api.ipynb", live_api, tmp_path, monkeypatch))
    assert f"API: {live_api}" in outputs
    assert re.search(r"page: 20 features, crs (EPSG:4326|OGC:CRS84)", outputs)
    total = store.count("farmland")
    assert f"farmland features: {total} of {total}" in outputs
    done = re.search(r"progress 430321 as of 2025-06-30: ([\d.]+) mu done in (\d+) of (\d+) parcels", outputs)
    assert done and int(done.group(3)) == store.count("farmland", Filter(equals={"county": ["430321"]}))
    exported = list(tmp_path.glob("farmland_county-430321_cql-*.geojson"))
    assert len(exported) == 1
    expected = store.count("farmland", Filter(equals={"county": ["430321"]}, cql=_gt("area_mu", 1000)))
    assert f"exported: {expected} features to {exported[0].name}" in outputs
    assert len(gpd.read_file(exported[0])) == expected


def _gt(prop: str, value: float) -> dict:
    return {"op": ">", "args": [{"property": prop}, value]}


def test_02_analysis(live_api, tmp_path, monkeypatch, store):
    outputs = "\n".join(run_notebook("02_analysis.ipynb", live_api, tmp_path, monkeypatch))
    farmland = store.read("farmland")
    farmland["mu"] = m2_to_mu(geodesic_area_m2(farmland.geometry))
    for county, group in farmland.groupby("county"):
        line = re.search(rf"county {county} \S+: (\d+) parcels, ([\d.]+) mu", outputs)
        assert line, f"no line for county {county}"
        assert int(line.group(1)) == len(group)
        assert float(line.group(2)) == pytest.approx(group["mu"].sum(), abs=0.06)
    hubs, communities = store.read("logistics-hubs"), store.read("old-communities")
    epsg = gk_zone_for_bounds(tuple(shapely.GeometryCollection([*hubs.geometry, *communities.geometry]).bounds))
    assert f"metric crs: EPSG:{epsg}" in outputs
    hub_union = hubs.to_crs(epsg).union_all()
    near = int((communities.to_crs(epsg).distance(hub_union) <= 1000).sum())
    assert f"communities within 1 km of a hub: {near} of {len(communities)}" in outputs

"""Tile dependency bundles: tile addresses and the plan-tile filters they turn into."""

from __future__ import annotations

from datetime import date

import pytest

from geo.errors import TileOutsideBounds, UnknownTileMatrixSet
from layers.query import Selection
from server.deps_tiles import PlanTileParams, StatusCountyParams, TileParams, XYZParams


def test_xyz_addresses_are_web_mercator():
    tile = XYZParams(z=12, x=3333, y=1718)
    assert tile.tms_id == "WebMercatorQuad" and tile.grid().tile == (3333, 1718, 12)
    with pytest.raises(TileOutsideBounds):
        XYZParams(z=2, x=9, y=0).grid()


def test_tile_params_name_their_matrix_set():
    tile = TileParams(tileMatrixSetId="CGCS2000Quad", z=3, x=6, y=1)
    assert tile.tms_id == "CGCS2000Quad" and str(tile.grid().tms.id) == "CGCS2000Quad"
    with pytest.raises(UnknownTileMatrixSet):
        TileParams(tileMatrixSetId="Mercator", z=1, x=0, y=0).grid()


def test_filters_become_a_selection():
    assert StatusCountyParams().selection() == Selection()
    assert StatusCountyParams(status="completed, planned,", county="430321").selection() == Selection(
        status=("completed", "planned"), county=("430321",)
    )
    plan = PlanTileParams(status="completed", as_of=date(2025, 6, 30)).selection()
    assert plan == Selection(status=("completed",), as_of=date(2025, 6, 30))

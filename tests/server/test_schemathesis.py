"""Property-based API tests: schemathesis generates requests from planmap's own OpenAPI document.

Every GET operation, and the POST operations that need no token, is called in-process on the read-only
demo (with its demo raster) with valid and invalid inputs drawn from the schema; each response must not
be a server error, must use a documented status and content type, and must match the documented schema
(errors: ``ErrorBody``). The run is seeded and deterministic, and bounded so that it stays well under a
minute on two cores.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from layers.boundaries import load_boundaries
from layers.raster_demo import build_cadmium_cog
from layers.rasters import raster_spec

MAX_EXAMPLES = 25
"""Fuzzing examples per operation (plus the schema's own examples)."""

NEEDS_TOKEN = (
    "POST /collections/{collectionId}/import",
    "POST /collections/{collectionId}/items/{featureId}/progress",
    "GET /audit",
    "POST /collections/{collectionId}/items",
)
"""Operations that need an access token (writes, and the planners' audit log): their own tests cover them."""

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 2025,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory, demo_gpkg):
    """A private copy of the demo GeoPackage with the demo raster beside it (so raster routes answer 200)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    shutil.copyfile(demo_gpkg, folder / "planmap.gpkg")
    raster = folder / raster_spec("soil-cadmium").filename
    raster.parent.mkdir(parents=True)
    build_cadmium_cog(raster, load_boundaries(), seed=2025)
    return folder / "planmap.gpkg"


def _spec_app():
    """An app for the OpenAPI document alone (its store is never opened: the document needs no data)."""
    from server.main import create_app
    from server.settings import Settings, StoreSettings

    return create_app(Settings(store=StoreSettings(gpkg_path="/nonexistent/planmap.gpkg")))


schema = (
    schemathesis.openapi.from_dict(_spec_app().openapi(), config=CONFIG)
    .include(method=["GET", "POST"])
    .exclude(func=lambda ctx: f"{ctx.operation.method.upper()} {ctx.operation.path}" in NEEDS_TOKEN)
)


@pytest.fixture(scope="module")
def api_app(served_demo, app_factory):
    """The application under test; schemathesis runs its lifespan (opening the store) on the first call."""
    return app_factory(served_demo)


@schema.parametrize()
def test_api_conforms_to_its_openapi(case, api_app):
    case.call_and_validate(app=api_app, checks=CHECKS)


def test_fuzzing_left_the_store_intact(served_demo, app_factory):
    """Runs after the fuzzing above (file order): the demo data answers as before and the file is sound."""
    from fastapi.testclient import TestClient

    with TestClient(app_factory(served_demo)) as client:
        assert client.get("/collections/farmland/items", params={"limit": 1}).json()["numberMatched"] > 0
    with sqlite3.connect(served_demo) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

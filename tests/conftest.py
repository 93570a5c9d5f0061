"""Shared test configuration.

Tests that need PostGIS or a browser skip on a laptop without them, but in CI (``CI`` set) a missing
resource is a failure: ``require_or_skip`` turns the skip into ``pytest.fail``.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_or_skip(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is unavailable, except in CI, where that fails the test."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def require():
    """Return ``require_or_skip`` for tests that need an optional resource (PostGIS, a browser)."""
    return require_or_skip


@pytest.fixture(scope="session")
def registry():
    """The plan catalogue."""
    from layers.registry import load_catalogue

    return load_catalogue()


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory, registry):
    """A demo GeoPackage built once per test session. Treat it as read-only: use ``writable_gpkg`` to write."""
    from geo.storage.gpkg import GeoPackageStore
    from layers.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "planmap.gpkg"
    with GeoPackageStore(path) as store:
        build_demo(store, registry, seed=2025)
    return path


@pytest.fixture
def writable_gpkg(demo_gpkg, tmp_path):
    """A private copy of the demo GeoPackage that a test may change."""
    import shutil

    target = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, target)
    return target


def make_app(gpkg_path, **api):
    """Return a planmap app serving ``gpkg_path`` (settings built explicitly, no environment)."""
    from server.main import create_app
    from server.settings import ApiSettings, Settings, StoreSettings

    settings = Settings(store=StoreSettings(gpkg_path=gpkg_path, data_dir=gpkg_path.parent), api=ApiSettings(**api))
    return create_app(settings)


@pytest.fixture(scope="session")
def client(demo_gpkg):
    """An HTTP client on the app serving the read-only demo data (real ASGI requests through httpx)."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(demo_gpkg)) as test_client:
        yield test_client


@pytest.fixture
def writable_client(writable_gpkg):
    """An HTTP client on an app serving a private, writable copy of the demo data."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(writable_gpkg)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def app_factory():
    """Return ``make_app(gpkg_path, **api_settings)`` for tests that need their own app."""
    return make_app

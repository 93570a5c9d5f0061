"""Multipart forms cut short (no closing boundary) are refused as malformed, never read as far as they go."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token


@pytest.fixture
def tokens(writable_gpkg):
    with GeoPackageStore(writable_gpkg) as store:
        return {
            "field": create_token(store, "zhang", "field", ["430321"]),
            "planner": create_token(store, "li", "planner"),
        }


@pytest.fixture
def api(writable_gpkg, tokens, app_factory):
    with TestClient(app_factory(writable_gpkg)) as client:
        yield client


def encode(parts: dict) -> tuple[bytes, str, bytes]:
    """Return a multipart body of ``parts`` in order (text or (filename, bytes, type)), its type and boundary."""
    files = {k: (None, v) if isinstance(v, str) else v for k, v in parts.items()}
    request = httpx.Request("POST", "http://planmap", files=files)
    content_type = request.headers["content-type"]
    return request.read(), content_type, content_type.partition("boundary=")[2].encode()


def cut_before_closing(body: bytes, boundary: bytes) -> bytes:
    return body[: body.rindex(b"--" + boundary + b"--")]


def cut_before_part(body: bytes, boundary: bytes, name: str) -> bytes:
    """Cut just after the boundary line opening part ``name``: every earlier part is complete."""
    start = body.index(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode())
    return body[: start + len(boundary) + 4]


def assert_malformed(response: httpx.Response, naming: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {
        "code": "MalformedBody",
        "description": f"malformed multipart body: {naming}",
        "status": 400,
    }


def state(api: TestClient, feature_id: str) -> tuple[str, int]:
    store = api.app.state.store
    return store.feature_version("farmland", feature_id), len(store.history())


@pytest.fixture
def report(api):
    """A field report's URL, headers, and its parts with a photo last."""
    fid = api.app.state.store.read("farmland", Filter(equals={"county": "430321"}), limit=1)["id"].iloc[0]
    url = f"/collections/farmland/items/{fid}/progress"
    etag = api.get(f"/collections/farmland/items/{fid}").headers["etag"]
    parts = {
        "status": "in_progress",
        "percent": "95",
        "note": "截断测试",
        "photo": ("a.jpg", b"\xff\xd8 x", "image/jpeg"),
    }
    return fid, url, etag, parts


@pytest.mark.parametrize("cut", ["closing", "photo", "status"])
def test_a_truncated_progress_report_is_malformed_and_nothing_is_recorded(api, tokens, report, cut):
    fid, url, etag, parts = report
    body, content_type, boundary = encode(parts)
    short = cut_before_closing(body, boundary) if cut == "closing" else cut_before_part(body, boundary, cut)
    headers = {"Authorization": f"Bearer {tokens['field']}", "If-Match": etag, "Content-Type": content_type}
    before = state(api, fid)
    assert_malformed(api.post(url, content=short, headers=headers), "it ends before its closing boundary")
    assert state(api, fid) == before


def test_a_whole_progress_form_is_recorded(api, tokens, report):
    fid, url, etag, parts = report
    del parts["photo"]
    body, content_type, _ = encode(parts)
    headers = {"Authorization": f"Bearer {tokens['field']}", "If-Match": etag, "Content-Type": content_type}
    before = state(api, fid)
    response = api.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["properties"]["progress_pct"] == 95
    assert state(api, fid)[1] == before[1] + 1


def test_a_multipart_body_without_a_boundary_is_malformed(api, tokens, report):
    fid, url, etag, _ = report
    headers = {"Authorization": f"Bearer {tokens['field']}", "If-Match": etag, "Content-Type": "multipart/form-data"}
    assert_malformed(api.post(url, content=b"status=completed", headers=headers), "Missing boundary in multipart.")


def _station_import(api: TestClient) -> dict:
    frame = api.app.state.store.read("emergency-stations")
    lines = ["id,name,经度,纬度"] + [
        f"{r.id},改名{i},{r.geometry.x},{r.geometry.y}" for i, r in enumerate(frame.itertuples())
    ]
    csv = "\n".join(lines).encode()
    return {"file": ("stations.csv", csv, "text/csv"), "mode": "upsert", "dry_run": "true"}


@pytest.mark.parametrize("cut", ["closing", "dry_run"])
def test_a_truncated_dry_run_import_is_malformed_and_not_applied(api, tokens, cut):
    body, content_type, boundary = encode(_station_import(api))
    short = cut_before_closing(body, boundary) if cut == "closing" else cut_before_part(body, boundary, cut)
    headers = {"Authorization": f"Bearer {tokens['planner']}", "Content-Type": content_type}
    version = api.app.state.store.version("emergency-stations")
    response = api.post("/collections/emergency-stations/import", content=short, headers=headers)
    assert_malformed(response, "it ends before its closing boundary")
    assert api.app.state.store.version("emergency-stations") == version


def test_a_whole_dry_run_import_is_reported(api, tokens):
    body, content_type, _ = encode(_station_import(api))
    headers = {"Authorization": f"Bearer {tokens['planner']}", "Content-Type": content_type}
    version = api.app.state.store.version("emergency-stations")
    response = api.post("/collections/emergency-stations/import", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dry_run" and response.json()["updated"] > 0
    assert api.app.state.store.version("emergency-stations") == version

import csv
import io

import pytest
from fastapi.testclient import TestClient

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token, hash_token, list_tokens, revoke_token
from server.cli import main as planmap


@pytest.fixture
def tokens(writable_store):
    store = writable_store  # the store writable_client serves (GeoPackage or PostGIS)
    return {
        "field": create_token(store, "zhang", "field", ["430321", "430381"]),
        "viewer": create_token(store, "wang", "viewer"),
        "planner": create_token(store, "li", "planner"),
        "admin": create_token(store, "root", "admin"),
    }


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def feature_in(client, county, layer="reservoirs"):
    return client.app.state.store.read(layer, Filter(equals={"county": county}), limit=1)["id"].iloc[0]


def report(client, token, fid, layer="reservoirs", body=None):
    etag = client.get(f"/collections/{layer}/items/{fid}").headers["etag"]
    headers = {"If-Match": etag, **(bearer(token) if token else {})}
    body = body or {"status": "completed", "note": "验收"}
    return client.post(f"/collections/{layer}/items/{fid}/progress", json=body, headers=headers)


def test_writes_need_a_valid_token(writable_client, tokens):
    fid = feature_in(writable_client, "430321")
    for headers in (
        {},
        bearer("pm_not-a-token"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ):
        r = writable_client.post(
            f"/collections/reservoirs/items/{fid}/progress", json={"status": "planned"}, headers=headers
        )
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert set(r.json()) == {"code", "description", "status"} and r.json()["status"] == 401
        assert "pm_not-a-token" not in r.text and "dXNlcjpwYXNz" not in r.text


def test_invalid_token_is_401_on_reads_too(writable_client, tokens):
    assert writable_client.get("/collections/farmland/items", headers=bearer("pm_forged")).status_code == 401
    assert writable_client.get("/collections/farmland/items", headers=bearer(tokens["viewer"])).status_code == 200


def test_field_teams_report_only_in_their_counties(writable_client, tokens):
    mine, other = feature_in(writable_client, "430381"), feature_in(writable_client, "430302")
    assert report(writable_client, tokens["field"], mine).status_code == 200
    denied = report(writable_client, tokens["field"], other)
    assert denied.status_code == 403 and denied.json()["code"] == "PermissionDenied"
    assert "430321, 430381" in denied.json()["description"]
    assert report(writable_client, tokens["planner"], other).status_code == 200
    assert report(writable_client, tokens["viewer"], mine).status_code == 403
    assert report(writable_client, tokens["admin"], feature_in(writable_client, "430382")).status_code == 200


def test_revoked_tokens_stop_working_at_once(writable_client, writable_store, tokens):
    assert writable_client.get("/audit?limit=1", headers=bearer(tokens["planner"])).status_code == 200
    assert revoke_token(writable_store, "li")
    assert writable_client.get("/audit?limit=1", headers=bearer(tokens["planner"])).status_code == 401


def test_private_fields_only_for_token_holders(writable_client, tokens):
    anon = writable_client.get("/collections/farmland/items", params={"limit": 3}).json()
    assert all("investment_wan" not in f["properties"] for f in anon["features"])
    seen = writable_client.get("/collections/farmland/items", params={"limit": 3}, headers=bearer(tokens["viewer"]))
    assert all(isinstance(f["properties"]["investment_wan"], float) for f in seen.json()["features"])
    assert "authorization" in seen.headers["vary"].lower()
    queryable = writable_client.get("/collections/farmland/items", params={"filter": "investment_wan > 100"})
    assert queryable.status_code == 400
    filtered = writable_client.get(
        "/collections/farmland/items", params={"filter": "investment_wan > 100"}, headers=bearer(tokens["viewer"])
    )
    assert filtered.status_code == 200 and all(
        f["properties"]["investment_wan"] > 100 for f in filtered.json()["features"]
    )
    anon_csv = writable_client.get("/export/farmland.csv")
    assert anon_csv.status_code == 200 and "investment_wan" not in next(csv.reader(io.StringIO(anon_csv.text)))
    own_csv = writable_client.get("/export/farmland.csv", headers=bearer(tokens["viewer"]))
    assert "investment_wan" in next(csv.reader(io.StringIO(own_csv.text)))


def test_private_reads_need_a_viewer_token(app_factory, writable_store_url, tokens):
    with TestClient(app_factory(writable_store_url, public_reads=False)) as client:
        for path in (
            "/collections/farmland/items",
            "/collections",
            "/progress/farmland",
            "/map/data/farmland",
            "/collections/farmland/items/FL-001/history",
            "/tiles/farmland/10/843/427.mvt",
        ):
            r = client.get(path)
            assert r.status_code == 401 and r.json()["code"] == "NotAuthenticated", path
            assert client.get(path, headers=bearer(tokens["viewer"])).status_code in (200, 204), path
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_only_planners_read_the_audit(writable_client, tokens):
    assert writable_client.get("/audit").status_code == 401
    assert writable_client.get("/audit", headers=bearer(tokens["field"])).status_code == 403
    assert writable_client.get("/audit", headers=bearer(tokens["viewer"])).status_code == 403
    assert writable_client.get("/audit", headers=bearer(tokens["admin"])).status_code == 200


def test_token_cli_creates_lists_and_revokes(writable_gpkg, capsys, monkeypatch):
    monkeypatch.setenv("PLANMAP_DATA_DIR", str(writable_gpkg.parent))  # the CLI sets it; restored afterwards
    for name in ("PLANMAP_DATABASE_URL", "PLANMAP_GPKG_PATH"):
        monkeypatch.delenv(name, raising=False)
    args = ["--data-dir", str(writable_gpkg.parent), "token"]
    assert planmap([*args, "create", "--user", "zhao", "--role", "field", "--county", "430321,430381"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("pm_")
    assert planmap([*args, "list"]) == 0
    listing = capsys.readouterr().out
    assert "zhao" in listing and "430321,430381" in listing and token not in listing
    with GeoPackageStore(writable_gpkg) as store:
        assert [r.user for r in list_tokens(store)] == ["zhao"]
        stored = store.tokens(include_revoked=True)
        assert [t.sha256 for t in stored] == [hash_token(token)] and token not in str(stored)
        assert store.get_meta("auth:tokens") is None
    assert planmap([*args, "create", "--user", "x", "--role", "field"]) == 2
    assert planmap([*args, "revoke", "zhao"]) == 0 and planmap([*args, "revoke", "zhao"]) == 1


def test_browsers_sign_in_once_and_the_cookie_authorises_reads_only(app_factory, writable_store_url, tokens):
    with TestClient(app_factory(writable_store_url, public_reads=False), follow_redirects=False) as client:
        page = client.get("/map?layers=farmland", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fmap%3Flayers%3Dfarmland"
        assert client.get("/collections/farmland/items").status_code == 401  # API clients still get 401
        form = client.get("/login", params={"next": "/map?layers=farmland"})
        assert form.status_code == 200 and 'name="token"' in form.text and 'value="/map?layers=farmland"' in form.text
        wrong = client.post("/login", data={"token": "pm_forged", "next": "/map"})
        assert wrong.status_code == 401 and "令牌无效" in wrong.text and "set-cookie" not in wrong.headers
        signed = client.post("/login", data={"token": tokens["viewer"], "next": "/map?layers=farmland"})
        assert signed.status_code == 303 and signed.headers["location"] == "/map?layers=farmland"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
        items = client.get("/collections/farmland/items", params={"limit": 2})
        assert items.status_code == 200 and "cookie" in items.headers["vary"].lower()
        assert "investment_wan" in items.json()["features"][0]["properties"]  # a token holder's view
        assert client.get("/tiles/farmland/10/843/427.mvt").status_code in (200, 204)
        assert client.get("/map", headers={"Accept": "text/html"}).status_code == 200
        # The cookie never authorises a write (no cross-site request forgery of reports).
        fid = feature_in(client, "430321")
        etag = client.get(f"/collections/reservoirs/items/{fid}").headers["etag"]
        post = client.post(
            f"/collections/reservoirs/items/{fid}/progress", json={"status": "completed"}, headers={"If-Match": etag}
        )
        assert post.status_code == 401
        out = client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/collections/farmland/items").status_code == 401


def test_sign_in_never_redirects_off_site_and_stale_cookies_count_as_none(
    app_factory, writable_store_url, writable_store, tokens
):
    with TestClient(app_factory(writable_store_url), follow_redirects=False) as client:
        for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"):
            r = client.post("/login", data={"token": tokens["viewer"], "next": target})
            assert r.status_code == 303 and r.headers["location"] == "/", target
        revoke_token(writable_store, "wang")
        anon = client.get("/collections/farmland/items", params={"limit": 1})  # public reads; stale cookie ignored
        assert anon.status_code == 200 and "investment_wan" not in anon.json()["features"][0]["properties"]

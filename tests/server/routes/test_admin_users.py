"""The admin page manages accounts through the session (with CSRF); the CLI does the same; the access log."""

import io
import re
import time

import pytest
from fastapi.testclient import TestClient

from layers.accounts import create_user
from layers.tokens import authenticate, create_token, hash_token
from server.cli import main as planmap

ORIGIN = "http://testserver"
PASSWORD = "admin password 1"


@pytest.fixture
def admin_client(writable_client, writable_store):
    create_user(writable_store, "root", role="admin", password=PASSWORD, actor="t", clock=time.time)
    create_user(writable_store, "li", role="planner", password=PASSWORD, actor="t", clock=time.time)
    client = TestClient(writable_client.app, follow_redirects=False)
    signed = client.post("/login", data={"user": "root", "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert signed.status_code == 303
    return client


def csrf(client):
    page = client.get("/admin/users")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def post(client, url, data, token):
    return client.post(url, data={**data, "csrf_token": token}, headers={"Origin": ORIGIN})


def test_admin_page_creates_and_disables_an_account(admin_client, writable_store):
    token = csrf(admin_client)
    new = {
        "user": "zhao",
        "role": "field",
        "counties": "430321",
        "password": "a field password",
        "display_name": "赵六",
    }
    assert admin_client.post("/admin/users", data=new, headers={"Origin": ORIGIN}).status_code == 403  # no CSRF
    created = post(admin_client, "/admin/users", new, token)
    assert created.status_code == 303 and created.headers["location"] == "/admin/users"
    page = admin_client.get("/admin/users").text
    assert 'data-user="zhao"' in page and "赵六" in page and "a field password" not in page
    stored = writable_store.user("zhao")
    assert stored.role == "field" and stored.counties == ("430321",) and stored.password_hash.startswith("$argon2id$")

    other = TestClient(admin_client.app, follow_redirects=False)
    form = {"user": "zhao", "password": "a field password"}
    assert other.post("/login", data=form, headers={"Origin": ORIGIN}).status_code == 303

    def private(client):
        return "investment_wan" in client.get("/collections/farmland/items?limit=1").json()["features"][0]["properties"]

    assert private(other)
    assert post(admin_client, "/admin/users/zhao/disable", {}, token).status_code == 303
    assert "已停用" in admin_client.get("/admin/users").text
    assert not private(other)  # the session ended at once: reads go on as an anonymous reader
    fresh = TestClient(admin_client.app, follow_redirects=False)
    assert fresh.post("/login", data=form, headers={"Origin": ORIGIN}).status_code == 401
    assert post(admin_client, "/admin/users/zhao/enable", {}, token).status_code == 303
    assert fresh.post("/login", data=form, headers={"Origin": ORIGIN}).status_code == 303


def test_admin_page_refuses_bad_input_and_duplicates(admin_client):
    token = csrf(admin_client)
    bad = post(admin_client, "/admin/users", {"user": "x y", "role": "viewer"}, token)
    assert bad.status_code == 400 and "user name" in bad.text
    short = post(admin_client, "/admin/users", {"user": "xu", "role": "viewer", "password": "short"}, token)
    assert short.status_code == 400 and "10 to 256" in short.text
    dup = post(admin_client, "/admin/users", {"user": "li", "role": "viewer"}, token)
    assert dup.status_code == 409
    xss = post(
        admin_client,
        "/admin/users",
        {"user": "xss", "role": "viewer", "display_name": "<script>alert(1)</script>"},
        token,
    )
    assert xss.status_code == 303
    assert "<script>alert(1)</script>" not in admin_client.get("/admin/users").text


def test_admin_page_issues_and_revokes_tokens(admin_client, writable_store):
    token = csrf(admin_client)
    shown = post(admin_client, "/admin/users/li/token", {}, token)
    assert shown.status_code == 200
    secret = re.search(r"<code>(pm_[^<]+)</code>", shown.text).group(1)
    assert authenticate(writable_store, secret).user == "li"
    assert secret not in admin_client.get("/admin/users").text  # shown only once
    assert post(admin_client, "/admin/users/li/token/revoke", {}, token).status_code == 303
    assert writable_store.token_by_hash(hash_token(secret)) is None


def test_only_admins_reach_the_admin_page_and_planners_read_the_access_log(writable_client, writable_store):
    planner = create_token(writable_store, "li2", "planner")
    admin = create_token(writable_store, "root2", "admin")
    assert writable_client.get("/admin/users").status_code == 401
    assert writable_client.get("/admin/users", headers={"Authorization": f"Bearer {planner}"}).status_code == 403
    assert writable_client.get("/admin/users", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    writable_client.post("/login", data={"user": "nobody", "password": "wrong password"})
    log = writable_client.get("/audit/access", headers={"Authorization": f"Bearer {planner}"})
    assert log.status_code == 200 and log.json()[0]["event"] == "sign-in-failed" and log.json()[0]["user"] == "nobody"
    assert writable_client.get("/audit/access").status_code == 401


def test_user_cli_reads_passwords_from_stdin_never_from_argv(writable_gpkg, monkeypatch, capsys):
    from geo.storage.gpkg import GeoPackageStore

    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(writable_gpkg))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long cli password\n"))
    assert planmap(["user", "create", "sun", "--role", "field", "--county", "430321", "--password-stdin"]) == 0
    with pytest.raises(SystemExit):
        planmap(["user", "create", "sun2", "--role", "viewer", "--password", "x"])  # no such option
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert planmap(["user", "reset-password", "sun", "--password-stdin"]) == 2
    assert "10 to 256" in capsys.readouterr().err
    assert planmap(["user", "disable", "sun"]) == 0
    assert planmap(["user", "list"]) == 0
    listed = capsys.readouterr().out
    assert "sun" in listed and "disabled" in listed and "a long cli password" not in listed
    with GeoPackageStore(writable_gpkg) as store:
        assert store.user("sun").password_hash.startswith("$argon2id$")
    assert planmap(["user", "disable", "nobody"]) == 2

"""Password sign-in, browser sessions, CSRF and sign-in throttling, on both stores."""

import re
import time

import pytest
from fastapi.testclient import TestClient

from geo.storage.base import Filter
from layers.accounts import create_user
from layers.tokens import create_token
from server.settings import SecuritySettings

PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"


class FakeClock:
    """A clock the test moves (epoch seconds)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(writable_store_url, clock):
    from server.main import create_app

    settings = writable_store_url.settings()
    settings.security = SecuritySettings(session_idle_s=600, session_absolute_s=3600)
    app = create_app(settings)
    app.state.clock = clock
    return app


@pytest.fixture
def people(writable_store, clock):
    store = writable_store
    county = store.read("reservoirs", limit=1)["county"].iloc[0]
    create_user(
        store, "zhao", role="field", counties=[county], display_name="赵六", password=PASSWORD, actor="t", clock=clock
    )
    create_user(store, "li", role="planner", display_name="李四", password=PASSWORD, actor="t", clock=clock)
    return county


def new_client(app):
    return TestClient(app, follow_redirects=False)


def sign_in(client, user="zhao", password=PASSWORD, **headers):
    """Post the sign-in form as a browser does (with its Origin)."""
    headers = {"Origin": ORIGIN, **headers}
    return client.post("/login", data={"user": user, "password": password, "next": "/map"}, headers=headers)


def csrf_of(client, fid, layer="reservoirs"):
    page = client.get(f"/map/report/{layer}/{fid}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


def report(client, fid, headers, layer="reservoirs", status="completed"):
    etag = client.get(f"/collections/{layer}/items/{fid}").headers["etag"]
    return client.post(
        f"/collections/{layer}/items/{fid}/progress",
        json={"status": status, "note": "会话上报"},
        headers={"If-Match": etag, **headers},
    )


def test_password_sign_in_opens_a_session_that_reports_with_csrf(app, people, writable_store):
    county = people
    fid = writable_store.read("reservoirs", Filter(equals={"county": county}), limit=1)["id"].iloc[0]
    with new_client(app) as client:
        wrong = sign_in(client, password="not the password")
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers and "密码错误" in wrong.text
        signed = sign_in(client)
        assert signed.status_code == 303 and signed.headers["location"] == "/map"
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith("planmap_session=") and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie and "max-age=3600" in cookie  # plain HTTP here: no Secure flag
        # The cookie holds a random id; the store only its hash.
        session_id = client.cookies.get("planmap_session")
        assert writable_store.session_by_hash(session_id) is None and len(session_id) >= 43
        # Reads see the private view, like a token holder's.
        items = client.get("/collections/farmland/items", params={"limit": 1}).json()
        assert "investment_wan" in items["features"][0]["properties"]
        csrf = csrf_of(client, fid)
        assert "赵六" in client.get(f"/map/report/reservoirs/{fid}").text
        done = report(client, fid, {"X-CSRF-Token": csrf, "Origin": ORIGIN})
        assert done.status_code == 200, done.text
    last = writable_store.history("reservoirs", [fid]).sort_values("seq").iloc[-1]
    assert last["author"] == "zhao" and last["note"] == "会话上报"


def test_session_writes_without_csrf_or_from_another_origin_are_refused(app, people, writable_store):
    fid = writable_store.read("reservoirs", Filter(equals={"county": people}), limit=1)["id"].iloc[0]
    with new_client(app) as client:
        sign_in(client)
        csrf = csrf_of(client, fid)
        for headers in (
            {"Origin": ORIGIN},  # no token
            {"Origin": ORIGIN, "X-CSRF-Token": "forged"},  # a wrong token
            {"X-CSRF-Token": csrf, "Origin": "https://evil.example"},  # another site
            {"X-CSRF-Token": csrf, "Referer": "https://evil.example/page"},  # another site, no Origin
            {"X-CSRF-Token": csrf},  # neither Origin nor Referer
        ):
            refused = report(client, fid, headers)
            assert refused.status_code == 403 and refused.json()["code"] == "CsrfRefused", headers
        assert (writable_store.history("reservoirs", [fid])["author"] == "zhao").sum() == 0
        ok = report(client, fid, {"X-CSRF-Token": csrf, "Referer": f"{ORIGIN}/map/report/reservoirs/{fid}"})
        assert ok.status_code == 200
        # A plain form post carries the token as a field: signing out everywhere needs it too.
        assert client.post("/logout", data={"everywhere": "true"}, headers={"Origin": ORIGIN}).status_code == 403
        out = client.post("/logout", data={"everywhere": "true", "csrf_token": csrf}, headers={"Origin": ORIGIN})
        assert out.status_code == 303


def test_bearer_tokens_need_neither_csrf_nor_origin(app, people, writable_store):
    token = create_token(writable_store, "qian", "planner")
    fid = writable_store.read("reservoirs", limit=1)["id"].iloc[0]
    with new_client(app) as client:
        assert report(client, fid, {"Authorization": f"Bearer {token}"}).status_code == 200


def test_sessions_expire_when_idle_and_absolutely(app, people, clock):
    with new_client(app) as client:
        sign_in(client)
        assert client.get("/audit", params={"limit": 1}).status_code == 403  # a field account, signed in
        clock.now += 601  # idle longer than session_idle_s
        assert client.get("/audit", params={"limit": 1}).status_code == 401
    with new_client(app) as client:
        sign_in(client, "li")
        for _ in range(7):  # used every 500 s: never idle, but 3500 s after sign-in it is still live
            clock.now += 500
            assert client.get("/audit", params={"limit": 1}).status_code == 200
        clock.now += 200  # 3700 s after sign-in > session_absolute_s
        assert client.get("/audit", params={"limit": 1}).status_code == 401


def test_log_out_everywhere_ends_every_session_of_the_user(app, people, writable_store):
    phone, desk, other = new_client(app), new_client(app), new_client(app)
    with phone, desk, other:
        for c, user in ((phone, "li"), (desk, "li"), (other, "zhao")):
            assert sign_in(c, user).status_code == 303
        csrf = csrf_of(desk, writable_store.read("reservoirs", limit=1)["id"].iloc[0])
        out = desk.post("/logout", data={"everywhere": "true", "csrf_token": csrf}, headers={"Origin": ORIGIN})
        assert out.status_code == 303
        assert phone.get("/audit", params={"limit": 1}).status_code == 401  # the other device too
        assert desk.get("/audit", params={"limit": 1}).status_code == 401
        assert (
            other.get("/collections/farmland/items", params={"limit": 1})
            .json()["features"][0]["properties"]
            .get("investment_wan")
            is not None
        )  # another user's session is untouched
    events = [e.event for e in writable_store.auth_events()]
    assert "sign-out-everywhere" in events


def test_wrong_passwords_are_throttled_then_the_right_one_works_after_the_lock(app, people, clock, writable_store):
    with new_client(app) as client:
        answers = [sign_in(client, password=f"wrong password {i}") for i in range(8)]
        statuses = [a.status_code for a in answers]
        # Five free failures, then the account and the address are locked: 429 without checking the password.
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
        assert int(answers[5].headers["retry-after"]) >= 1
        locked = sign_in(client)  # the right password during the lock is refused too
        assert locked.status_code == 429 and "planmap_session" not in locked.headers.get("set-cookie", "")
        wait = int(locked.headers["retry-after"])
        clock.now += wait + 1
        assert sign_in(client).status_code == 303  # the lock ended: the right password works again
        assert sign_in(client, password="wrong again").status_code == 401  # and the count started anew
    events = [(e.event, e.user) for e in writable_store.auth_events(limit=50)]
    assert ("sign-in-failed-locked", "zhao") in events and ("sign-in", "zhao") in events
    assert all(PASSWORD not in (e.detail or "") for e in writable_store.auth_events(limit=50))


def test_locks_grow_and_wrong_attempts_are_not_answered_at_full_speed(app, people, clock):
    """Guessing speed is bounded by the lock, not by the server: after the free tries, one guess per lock."""
    with new_client(app) as client:
        for i in range(5):
            sign_in(client, password=f"wrong {i}")
        waits = []
        for i in range(4):  # each try after a lock ends doubles the next lock
            blocked = sign_in(client, password=f"blocked {i}")
            assert blocked.status_code == 429
            waits.append(int(blocked.headers["retry-after"]))
            clock.now += waits[-1] + 0.5
            assert sign_in(client, password=f"wrong again {i}").status_code == 401
        assert waits == sorted(waits) and waits[-1] >= 4 * waits[0], waits
        # 100 guesses at full speed would take ~1 s; the locks make them take hours of clock time.
        assert sum(waits) >= 2 + 4 + 8 + 16


def test_the_address_is_locked_across_accounts(app, people, clock):
    with new_client(app) as client:
        for i in range(6):
            expected = 401 if i < 5 else 429
            assert sign_in(client, user=f"nobody{i}", password="guess guess").status_code == expected
        assert sign_in(client, user="li").status_code == 429  # same address, another account


def test_failed_token_checks_are_throttled_per_address(app, people, writable_store, clock):
    token = create_token(writable_store, "qian", "viewer")
    with new_client(app) as client:
        codes = [
            client.get("/collections", headers={"Authorization": f"Bearer pm_guess{i}"}).status_code for i in range(8)
        ]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
        assert client.get("/collections", headers={"Authorization": f"Bearer {token}"}).status_code == 429
        clock.now += 3600
        assert client.get("/collections", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert "token-failed-locked" in [e.event for e in writable_store.auth_events()]


def test_secure_cookie_over_https_and_behind_a_trusted_proxy_only(writable_store_url, people, clock):
    from server.main import create_app

    for trust, headers, secure in (
        (False, {"X-Forwarded-Proto": "https"}, False),  # a client cannot claim HTTPS
        (True, {"X-Forwarded-Proto": "https"}, True),
    ):
        settings = writable_store_url.settings()
        settings.security = SecuritySettings(trust_proxy=trust)
        with new_client(create_app(settings)) as client:
            cookie = sign_in(client, **headers).headers["set-cookie"].lower()
            assert ("; secure" in cookie) == secure, (trust, cookie)
    with TestClient(create_app(writable_store_url.settings()), base_url="https://testserver") as client:
        cookie = client.post("/login", data={"user": "li", "password": PASSWORD}, follow_redirects=False)
        assert "; secure" in cookie.headers["set-cookie"].lower()


def test_disabling_an_account_ends_its_sessions_and_tokens(app, people, writable_store, clock):
    from layers.accounts import set_disabled, set_password

    token = create_token(writable_store, "li", "planner")
    with new_client(app) as client:
        sign_in(client, "li")
        assert client.get("/audit", params={"limit": 1}).status_code == 200
        set_disabled(writable_store, "li", True, actor="root", clock=clock)
        assert client.get("/audit", params={"limit": 1}).status_code == 401
        assert client.get("/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert sign_in(client, "li").status_code == 401
        set_disabled(writable_store, "li", False, actor="root", clock=clock)
        assert sign_in(client, "li").status_code == 303
        set_password(writable_store, "li", "a new long password", actor="root", clock=clock)
        assert client.get("/audit", params={"limit": 1}).status_code == 401  # a new password ends sessions
        assert sign_in(client, "li").status_code == 401
        assert sign_in(client, "li", "a new long password").status_code == 303
    stored = writable_store.user("li")
    assert stored.password_hash.startswith("$argon2id$") and "a new long password" not in stored.password_hash


def test_workers_share_the_lock_and_the_sessions_through_the_store(writable_store_url, people, clock):
    """Two app instances (two workers) on one store: failures on one lock the other; a session works on both."""
    from server.main import create_app

    workers = []
    for _ in range(2):
        app = create_app(writable_store_url.settings())
        app.state.clock = clock
        workers.append(app)
    first, second = new_client(workers[0]), new_client(workers[1])
    with first, second:
        for i in range(5):
            worker = (first, second)[i % 2]
            assert sign_in(worker, password=f"wrong {i}").status_code == 401
        assert sign_in(first).status_code == 429 and sign_in(second).status_code == 429
        clock.now += 3600
        assert sign_in(first, "li").status_code == 303
        second.cookies.set("planmap_session", first.cookies.get("planmap_session"))
        assert second.get("/audit", params={"limit": 1}).status_code == 200  # the session lives in the store

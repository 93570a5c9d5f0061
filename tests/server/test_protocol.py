"""A real uvicorn server with ``planmap serve``'s options: slow request heads are cut off, keep-alive still works."""

from __future__ import annotations

import http.client
import json
import pickle
import socket
import time

import pytest

from server import cli
from server.protocol import HeaderTimeoutProtocol, server_options
from server.settings import ApiSettings

HEAD_TIMEOUT_S = 1.5
MARGIN_S = 2.0  # generous under a loaded CI machine; without the deadline the connection stays open


@pytest.fixture(scope="module")
def address(demo_gpkg, app_factory, serve):
    """Host and port of the demo app served with a short head deadline."""
    options = server_options(ApiSettings(header_timeout_s=HEAD_TIMEOUT_S))
    with serve(app_factory(demo_gpkg), **options) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def drip(sock: socket.socket, started: float) -> tuple[bytes, float | None]:
    """Send one header byte every 0.5 s until the server closes; return what it sent and when it closed."""
    sock.settimeout(0.5)
    received = b""
    while time.monotonic() < started + HEAD_TIMEOUT_S + 4:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                return received, time.monotonic() - started
            continue
        except ConnectionResetError:
            return received, time.monotonic() - started
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
    return received, None


def assert_timed_out(received: bytes, closed_after: float | None) -> None:
    assert closed_after is not None, "the connection was still open after the deadline"
    assert HEAD_TIMEOUT_S - 0.1 <= closed_after <= HEAD_TIMEOUT_S + MARGIN_S, closed_after
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"connection: close" in head.lower()
    assert json.loads(body) == {
        "code": "RequestTimeout",
        "description": "the request line and headers did not arrive within 1.5 s",
        "status": 408,
    }


def test_a_client_dribbling_its_headers_is_cut_off(address):
    with socket.create_connection(address) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        received, closed_after = drip(sock, started)
    assert_timed_out(received, closed_after)


def test_the_deadline_restarts_after_each_response(address):
    conn = http.client.HTTPConnection(*address, timeout=5)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.read()
    assert conn.sock is not None
    started = time.monotonic()
    conn.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    received, closed_after = drip(conn.sock, started)
    conn.close()
    assert_timed_out(received, closed_after)


def test_an_idle_connection_is_closed_without_an_answer(address):
    with socket.create_connection(address) as sock:
        sock.settimeout(HEAD_TIMEOUT_S + 3)
        started = time.monotonic()
        assert sock.recv(4096) == b""
        assert time.monotonic() - started <= HEAD_TIMEOUT_S + MARGIN_S


def test_a_keep_alive_client_gets_several_responses_on_one_connection(address):
    conn = http.client.HTTPConnection(*address, timeout=5)
    conn.connect()
    first = conn.sock
    for path in ["/healthz", "/collections", "/healthz", "/collections/farmland"]:
        time.sleep(0.8)  # the connection outlives the head deadline: it runs per request
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("connection") != "close"
        assert json.loads(response.read())
        assert conn.sock is first, "the server closed the connection between requests"
    conn.close()


def test_an_oversized_request_head_is_refused_before_it_ends(address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)  # h11 buffers at most 16 KiB
        started = time.monotonic()
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")
        assert time.monotonic() - started < HEAD_TIMEOUT_S


def test_server_options_come_from_the_settings_and_survive_pickling(monkeypatch):
    monkeypatch.setenv("PLANMAP_HEADER_TIMEOUT_S", "7.5")
    options = server_options(ApiSettings())
    protocol = pickle.loads(pickle.dumps(options["http"]))  # --workers sends it to each worker process
    assert protocol.func is HeaderTimeoutProtocol and protocol.keywords == {"header_timeout_s": 7.5}
    assert options["h11_max_incomplete_event_size"] == 16 * 1024 and options["timeout_keep_alive"] == 5
    bigger = server_options(ApiSettings(max_url_bytes=32_768))
    assert bigger["h11_max_incomplete_event_size"] == 32_768 + 8 * 1024


def test_planmap_serve_runs_uvicorn_with_the_server_options(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setenv("PLANMAP_HEADER_TIMEOUT_S", "4")
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--port", "8123"]) == 0
    [(app, kwargs)] = calls
    assert app == "server.main:create_app" and kwargs["port"] == 8123
    assert kwargs["http"].keywords == {"header_timeout_s": 4.0} and kwargs["timeout_keep_alive"] == 5
    assert kwargs["h11_max_incomplete_event_size"] == 16 * 1024
    assert kwargs["workers"] == cli.default_workers() >= 1


def test_planmap_serve_prepares_the_store_once_before_starting_workers(monkeypatch, tmp_path):
    import uvicorn

    from geo.storage.gpkg import GeoPackageStore
    from layers.plans import list_plans

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--workers", "2"]) == 0
    [gpkg] = tmp_path.glob("**/*.gpkg")
    with GeoPackageStore(gpkg) as store:
        assert [stored.plan.year for stored in list_plans(store)] == [2025]  # the seed plan, written before forking

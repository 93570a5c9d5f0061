"""HTTP caching helpers: ETags, If-None-Match (weak comparison), If-Match (strong) and cache headers."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from geo.errors import StaleVersion
from layers.errors import VersionRequired
from server.caching import (
    REVALIDATE,
    cache_headers,
    check_if_match,
    conditional,
    make_etag,
    none_match,
    representation_etags,
    strong_etag,
)


def make_request(path: str = "/collections/farmland/items", query: bytes = b"", private: bool = False) -> Request:
    request = Request({"type": "http", "method": "GET", "path": path, "query_string": query, "headers": []})
    if private:
        request.state.registry = object()
    return request


def test_strong_etag_is_a_quoted_digest_of_the_key():
    tag = strong_etag("farmland=3|/tiles/plan/1/2/3.mvt")
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert strong_etag("farmland=3|/tiles/plan/1/2/3.mvt") == tag != strong_etag("farmland=4|/tiles/plan/1/2/3.mvt")


def test_make_etag_ignores_query_order_but_not_version_format_or_view():
    a = make_etag("v1", make_request(query=b"limit=5&status=completed"), "geojson")
    assert a == make_etag("v1", make_request(query=b"status=completed&limit=5"), "geojson")
    others = {
        make_etag("v2", make_request(query=b"limit=5&status=completed"), "geojson"),
        make_etag("v1", make_request(query=b"limit=5&status=completed"), "html"),
        make_etag("v1", make_request(query=b"limit=5&status=completed", private=True), "geojson"),
        make_etag("v1", make_request(query=b"limit=6&status=completed"), "geojson"),
    }
    assert a not in others and len(others) == 4


def test_representation_etags_are_those_a_plain_get_of_the_path_gives():
    post = make_request("/collections/farmland/items/FL-1/progress", b"x=1", private=True)
    tags = representation_etags("v7", post, "/collections/farmland/items/FL-1", ["geojson", "html"])
    get_private = make_request("/collections/farmland/items/FL-1", private=True)
    get_public = make_request("/collections/farmland/items/FL-1")
    assert tags == [
        make_etag("v7", get_private, "geojson"),
        make_etag("v7", get_private, "html"),
        make_etag("v7", get_public, "geojson"),
        make_etag("v7", get_public, "html"),
    ]


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),  # If-None-Match compares weakly
        ('"x", "abc"', True),
        ('"x",W/"abc" ', True),
        ('"x", "y"', False),
        ("abc", False),  # unquoted is not the same tag
        ("*", True),
        (" * ", True),
        ('"x", *', True),
    ],
)
def test_if_none_match(header, matches):
    assert none_match(header, '"abc"') is matches


def test_if_match_missing_or_star_requires_a_version():
    for header in (None, "*", " * "):
        with pytest.raises(VersionRequired):
            check_if_match(header, ['"abc"'])


@pytest.mark.parametrize("header", ['"abc"', '"x", "abc"', ' "abc" ,"y"'])
def test_if_match_accepts_a_current_tag(header):
    check_if_match(header, ['"old"', '"abc"'])


@pytest.mark.parametrize("header", ['"x"', 'W/"abc"', '"x", W/"abc"', "", "abc"])
def test_if_match_is_strong_and_rejects_stale_or_weak_tags(header):
    with pytest.raises(StaleVersion, match="changed since you read it"):
        check_if_match(header, ['"abc"'])


def test_cache_headers():
    assert cache_headers('"t"') == {"ETag": '"t"', "Cache-Control": REVALIDATE, "Vary": "Accept"}
    assert cache_headers('"t"', vary=None) == {"ETag": '"t"', "Cache-Control": "no-cache"}
    assert cache_headers('"t"', vary="Accept-Encoding")["Vary"] == "Accept-Encoding"


def test_conditional_builds_once_and_answers_304_without_building():
    built: list[int] = []
    app = FastAPI()

    @app.get("/thing")
    def thing(request: Request) -> Response:
        def build() -> Response:
            built.append(1)
            return Response("湘潭", media_type="text/plain")

        return conditional(request, '"abc"', build)

    client = TestClient(app)
    first = client.get("/thing")
    assert first.status_code == 200 and first.text == "湘潭" and first.headers["etag"] == '"abc"'
    assert first.headers["cache-control"] == "no-cache" and first.headers["vary"] == "Accept"
    again = client.get("/thing", headers={"If-None-Match": 'W/"abc"'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == '"abc"'
    assert client.get("/thing", headers={"If-None-Match": '"other"'}).status_code == 200
    assert len(built) == 2

"""Local copies of every script and stylesheet the maps load, so pages work with no internet access."""

from __future__ import annotations

from pathlib import Path

import folium
import xstatic.pkg.font_awesome
import xstatic.pkg.jquery
import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster

STATIC_PREFIX = "/static"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

XSTATIC_DIRS: dict[str, Path] = {
    "leaflet": Path(xstatic.pkg.leaflet.BASE_DIR),
    "jquery": Path(xstatic.pkg.jquery.BASE_DIR),
    "font-awesome": Path(xstatic.pkg.font_awesome.BASE_DIR),
    "leaflet-markercluster": Path(xstatic.pkg.leaflet_markercluster.BASE_DIR),
}
"""URL name under ``/static/xstatic/`` -> directory of an installed XStatic package."""


def _js(prefix: str) -> list[tuple[str, str]]:
    # Folium's defaults also pull bootstrap and awesome-markers from CDNs; planmap's maps use neither
    # (circle markers, plain HTML popups), so they are dropped rather than vendored.
    return [
        ("leaflet", f"{prefix}/xstatic/leaflet/leaflet.js"),
        ("jquery", f"{prefix}/xstatic/jquery/jquery.min.js"),
        ("planmap", f"{prefix}/planmap/planmap.js"),
    ]


def _css(prefix: str) -> list[tuple[str, str]]:
    return [
        ("leaflet_css", f"{prefix}/xstatic/leaflet/leaflet.css"),
        ("planmap_css", f"{prefix}/planmap/planmap.css"),
    ]


def vectorgrid_js(prefix: str = STATIC_PREFIX) -> tuple[str, str]:
    """Return the (name, url) of the vendored Leaflet.VectorGrid bundle, needed by vector-tile overlays."""
    return ("vectorgrid", f"{prefix}/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js")


def offline_map(location: tuple[float, float], zoom: int, prefix: str = STATIC_PREFIX) -> folium.Map:
    """Return a ``folium.Map`` with no tiles whose scripts and stylesheets all come from ``prefix``.

    ``prefix`` is where planmap serves its static files; a notebook talking to a running planmap server
    passes that server's URL plus ``/static``.
    """
    fmap = folium.Map(location=list(location), zoom_start=zoom, tiles=None, control_scale=True)
    fmap.default_js = _js(prefix)
    fmap.default_css = _css(prefix)
    return fmap

"""The installable field app: web app manifest, the app shell's URLs and the service worker's script."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from server.maps.assets import STATIC_DIR, STATIC_PREFIX, XSTATIC_DIRS

START_URL = "/map/nearby"
SHELL_PAGES = (START_URL, "/offline")
SHELL_STATIC = (
    "planmap/planmap.css",
    "planmap/planmap.js",
    "planmap/print.js",
    "planmap/report.js",
    "planmap/outbox.js",
    "planmap/field.js",
    "planmap/favicon.svg",
    "planmap/icons/icon-192.png",
)
SHELL_XSTATIC = (
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
    "leaflet/images/layers.png",
    "leaflet/images/layers-2x.png",
    "leaflet/images/marker-icon.png",
    "jquery/jquery.min.js",
)
"""What the service worker caches when it is installed: the field pages' HTML, planmap's and Leaflet's assets."""


def manifest() -> dict[str, Any]:
    """Return the web app manifest (Chinese first; the field page is where the app opens)."""
    icons = [
        {"src": f"{STATIC_PREFIX}/planmap/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": f"{STATIC_PREFIX}/planmap/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": f"{STATIC_PREFIX}/planmap/icons/maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    return {
        "name": "湘潭项目进度",
        "short_name": "项目进度",
        "description": "湘潭市重点项目现场上报:附近项目、进度上报、离线使用",
        "lang": "zh-CN",
        "id": START_URL,
        "start_url": START_URL,
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#16a34a",
        "icons": icons,
    }


def shell_urls() -> list[str]:
    """Return the app shell's URLs, cached when the service worker installs."""
    static = [f"{STATIC_PREFIX}/{path}" for path in SHELL_STATIC]
    xstatic = [f"{STATIC_PREFIX}/xstatic/{path}" for path in SHELL_XSTATIC]
    return [*SHELL_PAGES, *static, *xstatic]


def _file(url_path: str) -> bytes:
    if url_path.startswith("xstatic/"):
        name, _, rest = url_path.removeprefix("xstatic/").partition("/")
        return (XSTATIC_DIRS[name] / rest).read_bytes()
    return (STATIC_DIR / url_path).read_bytes()


@lru_cache(maxsize=1)
def service_worker() -> str:
    """Return ``sw.js`` with the shell's URLs and a version that changes whenever a shell file does.

    A new version makes browsers install the new worker, which replaces the old caches.
    """
    digest = hashlib.sha256()
    for path in (*SHELL_STATIC, *(f"xstatic/{p}" for p in SHELL_XSTATIC), "planmap/sw.js"):
        digest.update(_file(path))
    script = (STATIC_DIR / "planmap" / "sw.js").read_text(encoding="utf-8")
    script = script.replace('"__PLANMAP_VERSION__"', json.dumps(digest.hexdigest()[:12]))
    return script.replace('["__PLANMAP_SHELL__"]', json.dumps(shell_urls()))

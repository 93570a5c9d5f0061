"""Public project pages for the site board (公示牌): no sign-in, Chinese, public facts only, with a QR code.

``PLANMAP_PUBLIC_PAGES=false`` turns them off (404). The QR code encodes the page's URL, built from
``PLANMAP_PUBLIC_BASE_URL`` when set (the address citizens reach), else from the request.
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Literal
from urllib.parse import quote

import segno
from fastapi import APIRouter, Path, Request, Response
from markupsafe import Markup

from layers.errors import UnknownLayer
from layers.public_page import public_project
from layers.registry import LayerRegistry
from server.deps import SettingsDep, StoreDep
from server.responses import ERROR_RESPONSES, html_response

router = APIRouter(tags=["Public pages"], responses=ERROR_RESPONSES)

LayerId = Annotated[str, Path(description="Project layer id, e.g. `farmland`", max_length=64)]
FeatureId = Annotated[str, Path(description="Project id, e.g. `FL-001`", max_length=200)]
_QR_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
_CACHE = {"Cache-Control": "public, max-age=300"}


def _enabled(settings: SettingsDep) -> None:
    if not settings.security.public_pages:
        raise UnknownLayer("public project pages are turned off on this server")


def _public_catalogue(request: Request) -> LayerRegistry:
    """The catalogue as anonymous readers see it, whoever asks (private fields stay private)."""
    registry: LayerRegistry = request.app.state.registry
    return registry


def page_url(request: Request, base_url: str | None, layer_id: str, feature_id: str) -> str:
    """Return the public URL of a project page (what its QR code encodes)."""
    root = (base_url or str(request.base_url)).rstrip("/")
    return f"{root}/p/{quote(layer_id, safe='')}/{quote(feature_id, safe='')}"


@router.get(
    "/p/{collectionId}/{featureId}",
    operation_id="getPublicPage",
    summary="Public page of a project (HTML, zh-CN)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def public_page(
    request: Request, store: StoreDep, settings: SettingsDep, collectionId: LayerId, featureId: FeatureId
) -> Response:
    """Show a project's name, place, status, progress and dates to anyone (no internal fields)."""
    _enabled(settings)
    layer = _public_catalogue(request).get(collectionId)
    project = public_project(store, layer, featureId)
    geometry = Markup(json.dumps(project.geometry).replace("<", "\\u003c"))
    context = {
        "project": project,
        "geometry": geometry,
        "qr_png": f"{request.url.path}/qr.png",
        "qr_svg": f"{request.url.path}/qr.svg",
        "url": page_url(request, settings.security.public_base_url, collectionId, featureId),
    }
    response = html_response(request, "public_project.html", context)
    response.headers.update(_CACHE)
    return response


@router.get(
    "/p/{collectionId}/{featureId}/qr.{ext}",
    operation_id="getPublicPageQR",
    summary="QR code of a project's public page (PNG or SVG), for the site board",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def public_qr(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    collectionId: LayerId,
    featureId: FeatureId,
    ext: Annotated[Literal["png", "svg"], Path(description="Image format: `png` or `svg`")],
) -> Response:
    """Return a QR code that opens the project's public page (error correction M, 4-module quiet zone)."""
    _enabled(settings)
    public_project(store, _public_catalogue(request).get(collectionId), featureId)  # 404 for unknown ids
    qr = segno.make(page_url(request, settings.security.public_base_url, collectionId, featureId), error="m")
    out = io.BytesIO()
    if ext == "png":
        qr.save(out, kind="png", scale=10, border=4)
    else:
        qr.save(out, kind="svg", scale=10, border=4, xmldecl=False, title="planmap")
    return Response(out.getvalue(), media_type=_QR_TYPES[ext], headers=_CACHE)

"""Interactive API documentation served from local assets (Swagger UI from the swagger-ui-bundle wheel)."""

from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from server.security import with_nonce

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
FAVICON = Path(__file__).resolve().parents[1] / "static" / "planmap" / "favicon.svg"
SWAGGER_MOUNT = "/docs-assets"  # not under /static, which the maps router mounts as a whole

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    """Swagger UI for /openapi.json, with every script and stylesheet served by planmap itself."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="planmap API",
        swagger_js_url=f"{SWAGGER_MOUNT}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_MOUNT}/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
    )
    # FastAPI's page starts Swagger UI in an inline script: it gets the response's CSP nonce.
    return HTMLResponse(with_nonce(bytes(page.body).decode("utf-8")))


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """planmap's icon, so browsers asking for /favicon.ico get one instead of a 404."""
    return FileResponse(FAVICON, media_type="image/svg+xml")


def swagger_static() -> StaticFiles:
    """Return the static-file app for the Swagger UI assets."""
    return StaticFiles(directory=SWAGGER_DIR)

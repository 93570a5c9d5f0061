"""The API's routers, one module per resource; ``create_app`` includes each of ``ROUTERS``."""

from fastapi import APIRouter

from server.routers import (
    admin,
    alerts,
    audit,
    basemap,
    collections,
    dashboard,
    edits,
    exports,
    features,
    fieldapp,
    health,
    import_page,
    imports,
    landing,
    lights,
    login,
    maps,
    nearby,
    plans,
    progress,
    public,
    rasters,
    reports,
    review,
    tiles,
    tilesets,
    updates,
    wmts,
)

ROUTERS: list[APIRouter] = [
    health.router,
    exports.router,
    landing.router,
    collections.router,
    features.router,
    tiles.router,
    maps.router,
]
ROUTERS += [progress.router, nearby.router]
ROUTERS += [rasters.router, basemap.router]
ROUTERS += [updates.router, audit.router]
ROUTERS += [imports.router, login.router, public.router, admin.router]
ROUTERS += [plans.router, lights.router, dashboard.router]
ROUTERS += [edits.router]
ROUTERS += [reports.router]
ROUTERS += [review.router, alerts.router]
ROUTERS += [tilesets.router, wmts.router]
ROUTERS += [import_page.router]
ROUTERS += [fieldapp.router]

"""The FastAPI application: ``create_app(settings)`` wires the store, the catalogue and the routers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from geo.errors import RecordExists, StoreUnavailable
from geo.raster import configure_gdal
from geo.storage.base import FeatureStore
from layers.import_jobs import ImportJobs
from layers.plans import ensure_seed
from layers.registry import load_catalogue
from server import uploads
from server.alerting import AlertChecks
from server.auth import install_auth
from server.errors import add_exception_handlers
from server.fasttiles import CachedTiles
from server.limits import RequestLimits
from server.replication import ReadYourWrites
from server.responses import document_errors
from server.routers import ROUTERS, docs
from server.security import SecurityHeaders
from server.settings import Settings

logger = logging.getLogger(__name__)


def seed_plans(store: FeatureStore) -> None:
    """Give a store without plans the 2025 seed plan (another worker may do it first; a read-only store never)."""
    try:
        ensure_seed(store)
    except (RecordExists, StoreUnavailable) as exc:
        logger.info("plans not seeded: %s", exc)


def prepare_store(settings: Settings) -> None:
    """Do the store's start-up work once (sweep old uploads, migrate, seed the plan) and close it again."""
    uploads.sweep(settings.store.uploads, settings.store.upload_max_age_s)
    store = settings.store.open()
    try:
        seed_plans(store)
    finally:
        store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the planmap application; startup opens the store named by the settings, shutdown closes it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_gdal(settings.tiles.gdal_cachemax)
        uploads.sweep(settings.store.uploads, settings.store.upload_max_age_s)
        store = settings.store.open()
        app.state.store = store
        app.state.import_jobs = ImportJobs(settings.store.uploads, settings.store.upload_max_age_s)
        app.state.alert_checks = AlertChecks()
        seed_plans(store)
        try:
            yield
        finally:
            app.state.import_jobs.shutdown()  # a running import ends before the store closes
            app.state.alert_checks.shutdown()  # and so do the alert checks of the last writes
            store.close()

    app = FastAPI(
        title=settings.api.title,
        description="湘潭市2025年重点项目空间进度 · Xiangtan 2025 work-plan projects: OGC API Features, tiles, "
        "spatial-progress queries, exports and offline maps.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # the CDN-based default is replaced by server/routers/docs.py (local assets)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = time.time  # tests move it to check session expiry and lock-outs without sleeping
    app.state.registry = load_catalogue()
    app.add_middleware(CachedTiles)  # innermost: cached tiles and 304s skip routing, after authentication
    install_auth(app, settings)  # its 401s still get CORS headers
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)  # 9 costs ~3x the CPU for ~3% size
    app.add_middleware(
        RequestLimits,
        max_url_bytes=settings.api.max_url_bytes,
        max_body_bytes=settings.api.max_body_bytes,
        max_upload_bytes=settings.api.max_upload_bytes,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.cors_origins,
        allow_methods=["GET", "HEAD", "OPTIONS", "POST"],
        allow_headers=["*"],
        expose_headers=["ETag", "Content-Crs", "Link", "Content-Disposition"],
    )
    if settings.store.database_url and (settings.store.database_replica_urls or settings.store.database_version_ttl_s):
        app.add_middleware(ReadYourWrites)  # replicas, or versions reused briefly: a client reads its writes
    # Outermost: every answer gets the headers, the middlewares' own 401/413/429 included.
    app.add_middleware(SecurityHeaders, tianditu=settings.maps.tianditu_key is not None)
    add_exception_handlers(app)
    document_errors(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(docs.router)
    app.mount(docs.SWAGGER_MOUNT, docs.swagger_static(), name="swagger-ui")
    return app

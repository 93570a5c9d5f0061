"""The "在QGIS中打开" download: a map view's query turned into a QGIS project (``layers.qgis_project``)."""

from __future__ import annotations

from urllib.parse import urlencode

from geo.qgs import project_xml
from geo.storage.base import FeatureStore
from layers.qgis_project import QgisView, qgis_project
from layers.registry import LayerRegistry
from server.maps.data import MapQuery
from server.maps.i18n import text

QGS_PATH = "/map.qgs"


def qgis_href(query: MapQuery) -> str:
    """Return the download link of the view's QGIS project (its layers, counties, statuses and plan year)."""
    params = {
        "layers": ",".join(query.layers),
        "county": ",".join(query.county),
        "status": ",".join(query.status),
        "plan": "" if query.plan_year is None else str(query.plan_year),
        "lang": "en" if query.lang == "en" else "",
    }
    kept = {k: v for k, v in params.items() if v}
    return QGS_PATH + (f"?{urlencode(kept)}" if kept else "")


def qgis_document(store: FeatureStore, registry: LayerRegistry, query: MapQuery, base_url: str) -> bytes:
    """Return the ``.qgs`` document of the map view, its layers read live from the server at ``base_url``."""
    view = QgisView(query.layers, query.county, query.status, query.plan_year, query.lang)
    return project_xml(qgis_project(store, registry, view, base_url, title=text("plan_title", query.lang)))

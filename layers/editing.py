"""Planners' edits of project features (OGC API Features Part 4): create, replace, update and delete.

Every edit is checked in full before anything is written (see :mod:`layers.edit_values` for properties
and :mod:`layers.edit_place` for geometries and counties), then written by one store verb that checks
the feature's version, writes the row and appends a history entry whose ``data`` records the edit
(``{"edit": "create|replace|update|delete", "changes": {field: [old, new]}}``; a changed geometry is
recorded as its old and new GeoJSON, so an edit can always be undone by hand). Derived fields are
recomputed on every edit: ``county_name`` from ``county``, ``area_mu`` / ``length_km`` geodesically.

Replace (PUT) sets every property the body gives and clears the others, except the progress a field
team reports (``status``, ``progress_pct`` and its dates) and the record's provenance (``is_demo``,
``source``), which stay unless given. Update (PATCH) is a JSON merge patch: given properties change,
``null`` clears one, absent ones stay, and a given geometry replaces the old one.

Delete is a soft delete: the feature leaves the layer, its history stays, and the feature as it was is
archived as the record ``deleted-feature:<layer>``/``<id>``, which also keeps the id from being reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import geopandas as gpd
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.errors import FeatureExists
from geo.storage.base import FeatureStore, FeatureWrite, HistoryEntry, tombstone_kind
from layers.boundaries import county_name, load_boundaries
from layers.edit_ids import next_id
from layers.edit_place import measures, parse_geometry, place_in_county
from layers.edit_values import check_id, check_properties
from layers.editing_state import changes, current_state, json_safe
from layers.errors import InvalidFeatureEdit, NotEditable
from layers.models import Layer
from layers.progress_model import initial_status
from layers.tokens import Principal, require_county

EDITOR_SOURCE = "planmap editor"
"""``source`` of features created in planmap unless the body says otherwise."""
COUNTIES = "counties"
Action = Literal["create", "replace", "update", "delete"]
_KEPT_ON_REPLACE = ("status", "progress_pct", "start_date", "completed_date", "is_demo", "source")
_CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class FeatureInput:
    """A submitted GeoJSON Feature: its id (if given), checked properties and geometry (if given)."""

    feature_id: str | None
    properties: dict[str, Any]
    geometry: BaseGeometry | None


@dataclass(frozen=True)
class EditContext:
    """Who edits, on which day, and the plan year new projects belong to by default."""

    principal: Principal
    today: date
    plan_year: int


def editable(layer: Layer) -> Layer:
    """Return the layer when planners may edit it (project layers); raise ``NotEditable`` otherwise."""
    if layer.kind != "project":
        raise NotEditable(f"{layer.id!r} is reference data; its features cannot be edited")
    return layer


def parse_feature(layer: Layer, body: Any, *, geometry_required: bool) -> FeatureInput:
    """Check a GeoJSON Feature body for ``layer``: its members, properties and geometry.

    Raises
    ------
    InvalidFeatureEdit, InvalidGeometry
        Naming the member, the property or the geometry problem.
    """
    if not isinstance(body, Mapping) or body.get("type") != "Feature":
        raise InvalidFeatureEdit('the body must be a GeoJSON Feature ({"type": "Feature", ...})')
    props = body.get("properties") or {}
    if not isinstance(props, Mapping):
        raise InvalidFeatureEdit("properties must be a JSON object")
    properties = check_properties(layer, props)
    fid = body.get("id")
    if fid is not None:
        fid = check_id(str(fid) if isinstance(fid, int) and not isinstance(fid, bool) else fid)
        if properties.get("id") not in (None, fid):
            raise InvalidFeatureEdit(f"the feature's id {fid!r} and its id property {properties['id']!r} differ")
    fid = fid or properties.get("id")
    geometry = body.get("geometry")
    if geometry is None and (geometry_required or "geometry" in body):
        raise InvalidFeatureEdit("geometry is required: a project needs its location")
    return FeatureInput(fid, properties, None if geometry is None else parse_geometry(layer, geometry))


def _counties(store: FeatureStore) -> gpd.GeoDataFrame:
    return store.read(COUNTIES) if COUNTIES in store.layers() else load_boundaries()


def _progress(values: dict[str, Any], given: Mapping[str, Any]) -> None:
    """Keep ``status`` and ``progress_pct`` consistent, as progress reports do."""
    status, fixed = values.get("status"), {"completed": 100.0, "planned": 0.0}.get(str(values.get("status")))
    pct = given.get("progress_pct")
    if fixed is not None:
        if pct is not None and float(pct) != fixed:
            raise InvalidFeatureEdit(f"a {status} project is at {fixed:g} %, not {float(pct):g} %")
        values["progress_pct"] = fixed
    elif status == "in_progress" and values.get("progress_pct") is None:
        raise InvalidFeatureEdit("progress_pct is required with status 'in_progress'")


def _complete(
    store: FeatureStore, layer: Layer, values: dict[str, Any], geom: BaseGeometry, county: str | None, ctx: EditContext
) -> dict[str, Any]:
    """Fill the county, derived measures and progress rules into ``values``; check the planner's scope.

    ``county`` is the adcode the project must lie in; None finds it from the geometry.
    """
    given = dict(values)
    adcode = place_in_county(geom, county, _counties(store))
    require_county(ctx.principal, adcode)
    values.update(county=adcode, county_name=county_name(adcode), **measures(layer, geom))
    if "status" in layer.field_names:
        if values.get("status") is None:
            values["status"] = initial_status(layer)
        _progress(values, given)
        if values["status"] == "completed" and values.get("completed_date") is None:
            values["completed_date"] = ctx.today
    if "updated_at" in layer.field_names:
        values["updated_at"] = ctx.today
    return {k: v for k, v in values.items() if k in layer.field_names}


def _entry(
    layer: Layer, fid: str, action: Action, values: Mapping[str, Any], diff: dict[str, Any], ctx: EditContext
) -> HistoryEntry:
    pct = values.get("progress_pct")
    return HistoryEntry(
        layer=layer.id,
        feature_id=fid,
        date=ctx.today,
        status=str(values.get("status") or ""),
        percent=None if pct is None else float(pct),
        author=ctx.principal.user,
        data={"edit": action, "changes": diff},
    )


def _held(store: FeatureStore, layer: Layer, values: Mapping[str, Any]) -> dict[str, Any]:
    held = store.columns(layer.id)
    return {k: v for k, v in values.items() if k in held}


def create(store: FeatureStore, layer: Layer, body: Any, ctx: EditContext) -> str:
    """Create a project from a GeoJSON Feature; return its id (given, or the layer's next free one).

    Raises
    ------
    InvalidFeatureEdit, InvalidGeometry, OutsideCounty, PermissionDenied
        When the feature is not valid or not in the planner's counties.
    FeatureExists
        When the given id is in use or was used by a deleted project.
    """
    feature = parse_feature(editable(layer), body, geometry_required=True)
    geom = feature.geometry
    if geom is None:
        raise InvalidFeatureEdit("geometry is required: a project needs its location")
    defaults = {"plan_years": str(ctx.plan_year), "is_demo": False, "source": EDITOR_SOURCE}
    values = {k: v for k, v in defaults.items() if k in layer.field_names} | feature.properties
    values = _complete(store, layer, values, geom, feature.properties.get("county"), ctx)
    for _ in range(_CREATE_ATTEMPTS):
        fid = feature.feature_id or next_id(store, layer)
        values["id"] = fid
        diff = changes(layer, {}, values, None, geom)
        write = FeatureWrite(_entry(layer, fid, "create", values, diff, ctx), _held(store, layer, values), geom)
        try:
            store.create_feature(write)
        except FeatureExists:
            if feature.feature_id is not None:
                raise  # a chosen id is the client's to change; a generated one is tried again
            continue
        return fid
    raise FeatureExists(f"other projects took every id tried in {layer.id!r}; send the feature again")


def change(
    store: FeatureStore, layer: Layer, fid: str, body: Any, ctx: EditContext, *, expected_version: str, patch: bool
) -> None:
    """Replace (``patch`` False) or merge-patch (True) a project; ``expected_version`` as read before.

    Raises
    ------
    InvalidFeatureEdit, InvalidGeometry, OutsideCounty, PermissionDenied, UnknownFeature, StaleVersion
    """
    feature = parse_feature(editable(layer), body, geometry_required=not patch)
    if feature.feature_id not in (None, fid):
        raise InvalidFeatureEdit(f"the body's id {feature.feature_id!r} is not the feature's id {fid!r}")
    old, old_geom = current_state(store, layer, fid)
    require_county(ctx.principal, old.get("county"))
    base = dict(old) if patch else {k: old.get(k) for k in (*_KEPT_ON_REPLACE, "id")}
    values = base | feature.properties | {"id": fid}
    geom = feature.geometry if feature.geometry is not None else old_geom
    if "county" in feature.properties:
        county = feature.properties["county"]
    else:  # a moved outline finds its county again; an unmoved one stays where it was
        county = None if feature.geometry is not None else old.get("county")
    values = _complete(store, layer, values, geom, county, ctx)
    action: Action = "update" if patch else "replace"
    diff = changes(layer, old, values, old_geom, geom)
    write = FeatureWrite(_entry(layer, fid, action, values, diff, ctx), _held(store, layer, values), geom)
    store.replace_feature(write, expected_version)


def delete(store: FeatureStore, layer: Layer, fid: str, ctx: EditContext, *, expected_version: str) -> None:
    """Soft-delete a project: archive it, remove it from the layer, keep its history.

    Raises
    ------
    NotEditable, PermissionDenied, UnknownFeature, StaleVersion
    """
    old, old_geom = current_state(store, editable(layer), fid)
    require_county(ctx.principal, old.get("county"))
    archive = {
        "type": "Feature",
        "id": fid,
        "properties": json_safe(old),
        "geometry": mapping(old_geom),
        "deleted": {"date": ctx.today.isoformat(), "by": ctx.principal.user},
    }
    diff = {name: [json_safe(value), None] for name, value in old.items() if value is not None}
    store.delete_feature(_entry(layer, fid, "delete", old, diff, ctx), expected_version, archive)


def retired_ids(store: FeatureStore, layer: Layer) -> list[str]:
    """Return the ids of the layer's deleted projects (archived, never reused)."""
    return [r.key for r in store.records(tombstone_kind(layer.id))]

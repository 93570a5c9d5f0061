"""Reading a layer's features for the items endpoints: the selection, sorting, properties, time and the page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd

from geo.crs import CRS84, parse_crs
from geo.errors import InvalidCRS
from geo.storage.base import FeatureStore, Filter, SortKey
from geo.textlists import split_list
from layers.errors import InvalidQueryParameter
from layers.lights import LightsAt, feature_lights
from layers.models import Layer
from layers.progress import status_as_of
from layers.query import Selection, queryables, to_filter

DateInterval = tuple[date | None, date | None]


def public_fields(layer: Layer) -> list[str]:
    """Return the names of the layer's public attributes (those served to clients), in schema order."""
    return [f.name for f in layer.fields if f.public]


def parse_sortby(text: str | None, layer: Layer) -> tuple[SortKey, ...]:
    """Parse ``sortby`` (``+name``, ``-name`` or ``name``, comma-separated) against the layer's queryables.

    Raises
    ------
    InvalidQueryParameter
        For an unknown or non-sortable property (geometry and JSON attributes cannot be sorted).

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> parse_sortby("-area_mu,name", load_catalogue().get("farmland"))[0]
    SortKey(column='area_mu', descending=True)
    """
    sortable = {name for name, kind in queryables(layer).items() if kind not in ("geometry", "json")}
    keys = []
    for term in split_list(text):
        name = term.lstrip("+-").strip()
        if name not in sortable:
            raise InvalidQueryParameter(f"cannot sort by {name!r}; sortable properties are {sorted(sortable)}")
        keys.append(SortKey(name, descending=term.startswith("-")))
    return tuple(keys)


def parse_properties(text: str | None, layer: Layer) -> list[str] | None:
    """Parse ``properties`` (comma-separated names) into the attributes to return; None means all public ones.

    Raises
    ------
    InvalidQueryParameter
        For a name that is not a public attribute of the layer.
    """
    if text is None:
        return None
    allowed = public_fields(layer)
    names = list(dict.fromkeys(split_list(text)))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InvalidQueryParameter(f"unknown properties {unknown}; properties of {layer.id!r} are {allowed}")
    return names


def _parse_instant(text: str, whole: str) -> date | None:
    if text in ("", ".."):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise InvalidQueryParameter(
            f"datetime {whole!r} is not an RFC 3339 date/date-time or an interval start/end ('..' for open ends)"
        ) from None


def parse_datetime(text: str | None) -> DateInterval | None:
    """Parse an OGC ``datetime`` (instant, or interval ``start/end`` with ``..`` for open ends) into days.

    Raises
    ------
    InvalidQueryParameter
        When either end is malformed, both ends are open or start is after end.

    Examples
    --------
    >>> parse_datetime("2025-03-01/..")
    (datetime.date(2025, 3, 1), None)
    >>> parse_datetime("2025-06-30T08:00:00Z")
    (datetime.date(2025, 6, 30), datetime.date(2025, 6, 30))
    """
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) > 2:
        raise InvalidQueryParameter(f"datetime {text!r} has more than one '/'")
    start = _parse_instant(parts[0].strip(), text)
    end = start if len(parts) == 1 else _parse_instant(parts[1].strip(), text)
    if len(parts) == 2 and start is None and end is None:
        raise InvalidQueryParameter(f"datetime {text!r} is open at both ends")
    if start is not None and end is not None and start > end:
        raise InvalidQueryParameter(f"datetime {text!r} starts after it ends")
    return start, end


def reported_ids(store: FeatureStore, layer: Layer, interval: DateInterval) -> list[str]:
    """Return the ids of features with at least one progress report dated within ``interval`` (inclusive)."""
    start, end = interval
    hist = store.history(layer.id, until=end)
    if start is not None:
        hist = hist[hist["date"] >= start.isoformat()]
    return sorted(set(hist["feature_id"].astype(str)))


def restrict_ids(where: Filter, ids: list[str]) -> Filter:
    """Return ``where`` further restricted to ``ids`` (intersected with any ids it already has)."""
    if where.ids is not None:
        keep = set(ids)
        ids = [i for i in where.ids if i in keep]
    return dataclasses.replace(where, ids=ids)


def items_filter(
    store: FeatureStore,
    layer: Layer,
    selection: Selection,
    *,
    datetime_text: str | None = None,
    filter_crs: str | None = None,
) -> Filter:
    """Resolve everything an items request selects by into one store ``Filter``.

    Parameters
    ----------
    store, layer : where to read and what.
    selection : bbox, county, status, attributes, CQL2 text and ``as_of`` (see :func:`layers.query.to_filter`).
    datetime_text : an OGC ``datetime`` instant or interval: only features with a progress report dated in it.
    filter_crs : the CRS of geometries in the CQL2 filter; only CRS84 is supported.

    Raises
    ------
    InvalidCRS
        For a ``filter_crs`` other than CRS84.
    InvalidQueryParameter, InvalidFilter, UnknownCounty
        For a malformed ``datetime``, filter or county (see :func:`parse_datetime`, :func:`to_filter`).
    """
    if filter_crs is not None and not parse_crs(filter_crs).equals(parse_crs(CRS84)):
        raise InvalidCRS(f"filter-crs {filter_crs!r} is not supported; filter geometries are CRS84")
    where = to_filter(selection, layer, store)
    interval = parse_datetime(datetime_text)
    return where if interval is None else restrict_ids(where, reported_ids(store, layer, interval))


@dataclass(frozen=True)
class ItemsRequest:
    """What an items request asks of a layer: its selection, page and the text of its other parameters."""

    selection: Selection
    limit: int
    offset: int = 0
    properties: str | None = None
    sortby: str | None = None
    datetime: str | None = None
    filter_crs: str | None = None
    lights: LightsAt | None = None


@dataclass(frozen=True)
class Page:
    """One page of features, how many match in all and the properties asked for (None: all public ones)."""

    frame: gpd.GeoDataFrame
    matched: int
    properties: list[str] | None = None


def read_page(
    store: FeatureStore,
    layer: Layer,
    where: Filter,
    *,
    limit: int,
    offset: int = 0,
    sortby: tuple[SortKey, ...] = (),
    properties: list[str] | None = None,
    as_of: date | None = None,
    lights: LightsAt | None = None,
) -> Page:
    """Read one page of a layer's public attributes; with ``as_of`` the ``status`` is that day's status.

    With ``lights`` (and all properties asked for) project features also carry their 序时进度 light,
    lag and elapsed time (:func:`layers.lights.feature_lights`).
    """
    columns = public_fields(layer) if properties is None else ["id", *(p for p in properties if p != "id")]
    frame, matched = store.read_page(layer.id, where, limit=limit, offset=offset, sortby=sortby, columns=columns)
    keep = [c for c in frame.columns if c in columns or c == frame.geometry.name]
    if len(keep) < len(frame.columns):
        frame = frame[keep]
    stored = frame  # the attributes as stored, before any replay
    if as_of is not None and "status" in frame.columns and len(frame):
        frame = frame.assign(status=status_as_of(store, layer, frame["id"], as_of).to_numpy())
    if lights is not None and properties is None and len(frame):
        found = feature_lights(store, layer, frame["id"], lights, known=stored)
        if not found.isna().all(axis=None):
            frame = frame.assign(**{c: found[c].to_numpy() for c in found.columns})
    return Page(frame=frame, matched=matched, properties=properties)


def read_items(store: FeatureStore, layer: Layer, request: ItemsRequest) -> Page:
    """Read the page of features an items request asks for: parameters checked, filter built, page read.

    Raises
    ------
    InvalidQueryParameter, InvalidFilter, InvalidCRS, UnknownCounty
        For an unknown property or sort key, a malformed ``datetime`` or filter, or an unsupported filter CRS.
    """
    properties = parse_properties(request.properties, layer)
    where = items_filter(store, layer, request.selection, datetime_text=request.datetime, filter_crs=request.filter_crs)
    return read_page(
        store,
        layer,
        where,
        limit=request.limit,
        offset=request.offset,
        sortby=parse_sortby(request.sortby, layer),
        properties=properties,
        as_of=request.selection.as_of,
        lights=request.lights,
    )


def read_feature(
    store: FeatureStore, layer: Layer, feature_id: str, properties: str | None = None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Return one feature (a one-row frame) and the properties to show: those asked for, else all public ones.

    Raises
    ------
    UnknownFeature
        When the layer has no such feature.
    InvalidQueryParameter
        For a name in ``properties`` that is not a public attribute.
    """
    frame = store.get(layer.id, feature_id)
    names = parse_properties(properties, layer)
    return frame, public_fields(layer) if names is None else names

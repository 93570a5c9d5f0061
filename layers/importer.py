"""Importing a planner's real data file into a plan layer: check everything first, then write once.

The pipeline reads the file (:mod:`geo.readers`), maps its columns to the layer's fields, type-checks every
value, brings geometries to WGS84 (CRS from the file or inferred, GCJ-02/BD-09 on request, swapped lat/lon
fixed, invalid geometries repaired), rejects rows outside Xiangtan, fills ``county``/``county_name`` and the
geodesic ``area_mu``/``length_km``, and marks every feature ``is_demo = false`` with the given ``source``.
Any problem rejects the whole file and the store is left untouched.

Features whose id is already stored keep the values of fields the file does not provide, and keep their
progress history. The import appends one history entry per feature whose status it changes (a new
feature counts as changing from the layer's initial status), dated by the feature's completion date when
done, else its update date, else the import day; so replaying the history gives the imported status.
In ``replace`` mode features missing from the file are removed from the layer; their history rows stay.
A file without features is refused, and a ``replace`` removing more than ``REMOVE_SHARE`` of the stored
features needs ``allow_remove`` (a dry run says so in a warning).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from collections.abc import Sequence as SequenceABC
from datetime import date
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely

from geo.errors import InvalidDataFile, StaleVersion
from geo.readers import ChunkedSource, read_chunks, read_source
from geo.storage.base import FeatureStore, HistoryEntry
from layers.boundaries import load_boundaries
from layers.import_fields import is_missing, resolve_mapping
from layers.import_frame import (
    assign_counties,
    carry_existing,
    check_ids,
    coerce_columns,
    derive_measures,
    finish_frame,
)
from layers.import_geometry import (
    city_polygon,
    dimension_counts,
    dropped_dimensions,
    place_geometries,
    plan_area,
)
from layers.import_mapping import FieldRule, parse_mapping
from layers.import_report import MAX_LISTED, REMOVE_SHARE, ClippedRow, ImportOptions, ImportReport, RowIssue
from layers.models import Layer
from layers.progress import done_statuses, initial_status

__all__ = ["ImportOptions", "ImportReport", "import_file"]

GEOMETRY_TOLERANCE_DEG = 1e-6
"""Geometries closer than this (about 0.1 m) count as unchanged."""
COUNTIES = "counties"


SWAP_ATTEMPTS = 5
"""How often an import is rebuilt on top of progress reports that arrived while it was being applied."""


def _counties(store: FeatureStore) -> gpd.GeoDataFrame:
    return store.read(COUNTIES) if COUNTIES in store.layers() else load_boundaries()


def _existing(store: FeatureStore, layer: Layer) -> gpd.GeoDataFrame:
    if layer.id in store.layers():
        return store.read(layer.id)
    return gpd.GeoDataFrame({"id": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([]), crs=4326)


def _issues(rows: list[tuple[int, str | None, str]], ids: pd.Series | None, start: int = 0) -> list[RowIssue]:
    """Return issues for 0-based rows; ``ids`` holds the ids of the rows from ``start`` on."""
    id_array = ids.to_numpy(dtype=object) if ids is not None else np.array([], dtype=object)

    def id_of(row: int) -> str | None:
        value = id_array[row - start] if 0 <= row - start < len(id_array) else None
        return None if is_missing(value) else str(value)

    return [RowIssue(row=row + 1, id=id_of(row), column=column, problem=text) for row, column, text in rows]


Resolved = tuple[dict[str, str], dict[str, FieldRule], str | None]
"""The file's column -> field mapping, the fields' rules and the id column (None: ids are generated)."""


def _resolve(columns: list[str], layer: Layer, options: ImportOptions, report: ImportReport) -> Resolved | None:
    """Resolve the mapping against the file's columns; None (with the problems reported) when it cannot apply."""
    checked = parse_mapping(options.mapping, layer)
    ruled = {name: rule.column for name, rule in checked.rules.items()}
    mapping, ignored, warnings, errors = resolve_mapping(columns, layer, checked.columns, ruled)
    report.mapping, report.ignored_columns = mapping, ignored
    report.rules = {name: rule.as_dict() for name, rule in checked.rules.items()}
    report.warnings += warnings
    if errors:
        report.add_problems([RowIssue(problem=e) for e in errors])
        return None
    id_column = next((c for c, f in mapping.items() if f == "id"), None)
    if id_column is None and options.mode == "upsert":
        report.add_problems([RowIssue(column="id", problem="an upsert needs an id column to match features by")])
        return None
    if id_column is None:
        report.warnings.append(f"the file has no id column; ids {layer.id}-00001... were generated")
    return mapping, dict(checked.rules), id_column


def _typed(source: pd.DataFrame, layer: Layer, resolved: Resolved, start: int = 0) -> tuple[pd.DataFrame, Any]:
    """Return the typed attributes of rows ``start``... of the file and their (0-based row, column, problem)s."""
    mapping, rules, id_column = resolved
    attrs, problems = coerce_columns(source, mapping, layer, rules)
    if id_column is None:
        attrs["id"] = [f"{layer.id}-{n:05d}" for n in range(start + 1, start + len(attrs) + 1)]
    return attrs, [(row + start, column, text) for row, column, text in problems]


def _attributes(source: gpd.GeoDataFrame, layer: Layer, options: ImportOptions, report: ImportReport) -> Any:
    """Return (typed attribute frame or None, the id source column, per-row problems)."""
    resolved = _resolve([c for c in source.columns if c != source.geometry.name], layer, options, report)
    if resolved is None:
        return None, None, []
    attrs, problems = _typed(source, layer, resolved)
    problems += check_ids(attrs, resolved[2])
    return attrs, resolved[2], problems


def _prepare(
    store: FeatureStore,
    layer: Layer,
    path: Path,
    options: ImportOptions,
    report: ImportReport,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Read and check the file; return the imported frame (WGS84, typed) or None when it is rejected."""
    chunked = read_chunks(
        path,
        name_hint=options.file_name,
        layer=options.file_layer,
        encoding=options.encoding,
        zip_limits=options.zip_limits,
        limits=options.read_limits,
    )
    if chunked is not None:
        return _prepare_chunked(store, layer, chunked, options, report, progress)
    src = read_source(
        path,
        name_hint=options.file_name,
        layer=options.file_layer,
        encoding=options.encoding,
        zip_limits=options.zip_limits,
        limits=options.read_limits,
    )
    report.file_format, report.rows, report.encoding = src.format, len(src.frame), src.encoding
    report.locate_rows(src.origins)
    report.warnings += src.warnings + dropped_dimensions(src.frame.geometry.array, src.measured)
    if src.frame.empty:
        name = options.file_name or path.name
        raise InvalidDataFile(f"{name} holds no features; an empty file would empty the layer, so it is refused")
    attrs, _, problems = _attributes(src.frame, layer, options, report)
    if attrs is None:
        return None
    counties = _counties(store)
    area = plan_area(counties) if layer.id != COUNTIES else None
    geometry = np.array(src.frame.geometry.array, dtype=object)
    src.frame = gpd.GeoDataFrame(geometry=[], crs=src.crs)  # the geometries are placed in place: hold no others
    try:
        city = city_polygon(counties) if area is not None and options.on_invalid == "clip" else None
        placed = place_geometries(
            geometry, src.crs, layer.geometry_type, area, options.coordsys, options.repair, clip_to=city
        )
    except ValueError as exc:
        report.add_problems([RowIssue(column="geometry", problem=str(exc))])
        return None
    report.crs, report.crs_source = placed.crs, placed.crs_source  # type: ignore[assignment]
    report.warnings += placed.warnings
    report.add_repairs(_issues([(r, "geometry", p) for r, p in placed.repairs], attrs["id"]))
    rows = [(p.row, p.column, p.problem) for p in src.problems] + problems
    unread = {p.row for p in src.problems}
    rows += [(r, "geometry", p) for r, p in placed.problems if not (r in unread and p == "no geometry")]
    skipped = _reject_or_skip(sorted(rows, key=lambda r: r[0]), attrs["id"], options, report)
    if skipped is None:
        return None
    _report_clipped(placed.clipped, skipped, attrs["id"], report)
    frame = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(placed.geoms, index=attrs.index), crs=4326)
    keep = ~np.isin(np.arange(len(frame)), sorted(skipped))
    kept_ids = {str(i) for i in attrs["id"].to_numpy()[~keep] if not is_missing(i)} - set(attrs["id"][keep])
    provided = set(report.mapping.values()) | set(report.rules) | {"id"}
    return frame[keep], provided, counties, kept_ids


def _prepare_chunked(
    store: FeatureStore,
    layer: Layer,
    source: ChunkedSource,
    options: ImportOptions,
    report: ImportReport,
    progress: Callable[[int, int], None] | None,
) -> Any:
    """:func:`_prepare` for a large file, checked a chunk at a time; the same frame, report and decisions.

    Each chunk is typed and placed, and only its rows without problems are kept (no row with a problem is
    ever written: the file is rejected, or the row skipped); the ids of every row are kept, for the
    duplicate check across chunks and for the report. So the source never is all in memory at once.
    """
    report.file_format, report.rows, report.encoding = source.format, source.rows, source.text_encoding
    report.warnings += list(source.warnings)
    counties = _counties(store)
    area = plan_area(counties) if layer.id != COUNTIES else None
    city = city_polygon(counties) if area is not None and options.on_invalid == "clip" else None
    resolved: Resolved | None = None
    dims: Counter[str] = Counter()
    ids: list[pd.Series] = []
    kept: list[gpd.GeoDataFrame] = []
    typing: list[tuple[int, str | None, str]] = []
    placing: list[tuple[int, str | None, str]] = []
    clipped: list[tuple[int, float | None, float | None]] = []
    for start, chunk in source.frames():
        if resolved is None:
            resolved = _resolve([c for c in chunk.columns if c != chunk.geometry.name], layer, options, report)
            if resolved is None:
                return None
        dims += dimension_counts(chunk.geometry.array)
        attrs, problems = _typed(chunk, layer, resolved, start)
        attrs.index = pd.RangeIndex(start, start + len(attrs))
        geometry = np.array(chunk.geometry.array, dtype=object)
        del chunk
        try:
            placed = place_geometries(
                geometry, source.crs, layer.geometry_type, area, options.coordsys, options.repair, clip_to=city
            )
        except ValueError as exc:
            report.add_problems([RowIssue(column="geometry", problem=str(exc))])
            return None
        report.crs, report.crs_source = placed.crs, placed.crs_source  # type: ignore[assignment]
        report.warnings += [w for w in placed.warnings if w not in report.warnings]
        report.add_repairs(_issues([(r + start, "geometry", p) for r, p in placed.repairs], attrs["id"], start))
        typing += problems
        placing += [(r + start, "geometry", p) for r, p in placed.problems]
        clipped += [(r + start, before, after) for r, before, after in placed.clipped]
        keep = np.ones(len(attrs), dtype=bool)
        keep[[r - start for r, _, _ in problems] + [r for r, _ in placed.problems]] = False
        kept.append(gpd.GeoDataFrame(attrs[keep], geometry=placed.geoms[keep], crs=4326))
        ids.append(attrs["id"])
        del attrs, placed, geometry
        if progress is not None:
            progress(min(start + source.chunk, source.rows), source.rows)
    if resolved is None:
        raise InvalidDataFile(f"{options.file_name or source.gdal_path} holds no features")
    report.warnings += dropped_dimensions([], source.measured, dims)
    every_id = pd.concat(ids)
    typing += check_ids(pd.DataFrame({"id": every_id.to_numpy(dtype=object)}), resolved[2])
    rows = sorted(typing + placing, key=lambda r: r[0])  # stable: a row's typing problems come first, as above
    skipped = _reject_or_skip(rows, every_id, options, report)
    if skipped is None:
        return None
    _report_clipped(clipped, skipped, every_id, report)
    frame = gpd.GeoDataFrame(pd.concat(kept), geometry="geometry", crs=4326)
    del kept
    left_out = sorted(skipped)
    frame = frame[~frame.index.isin(left_out)]
    kept_ids = {str(i) for i in every_id.to_numpy()[left_out] if not is_missing(i)} - set(frame["id"])
    provided = set(report.mapping.values()) | set(report.rules) | {"id"}
    return frame, provided, counties, kept_ids


def _report_clipped(
    clipped: list[tuple[int, float | None, float | None]], skipped: set[int], ids: pd.Series, report: ImportReport
) -> None:
    """Add the clipped rows that are imported (not skipped) to the report, with their areas before and after."""
    clipped = [(r, before, after) for r, before, after in clipped if r not in skipped]
    issues = _issues([(r, None, "clipped") for r, _, _ in clipped], ids)
    report.add_clipped(
        [
            ClippedRow(row=i.row or r + 1, id=i.id, area_mu_before=_round(b), area_mu_after=_round(a))
            for (r, b, a), i in zip(clipped, issues, strict=True)
        ]
    )


def _round(mu: float | None) -> float | None:
    return None if mu is None else round(mu, 2)


def _reject_or_skip(
    rows: list[tuple[int, str | None, str]], ids: pd.Series, options: ImportOptions, report: ImportReport
) -> Any:
    """Return the 0-based rows to leave out (none when all is well), or None when the file is rejected.

    With ``on_invalid="skip"`` rows with problems are listed as skipped and the others imported; problems
    that concern the whole file, or a file whose every row has one, still reject it. Only the issues the
    report lists are built (a file can have a million bad rows); the totals count them all.
    """

    def listed(extra: list[RowIssue]) -> list[RowIssue]:
        return _issues(rows[:MAX_LISTED], ids) + extra

    if options.on_invalid == "reject" or any(r[0] is None for r in rows):
        report.add_problems(listed([]), total=len(rows))
        return None if report.problems_total else set()
    skipped = {r[0] for r in rows}
    if skipped and len(skipped) == len(ids):
        everything = RowIssue(problem="every row has a problem; nothing would be imported")
        report.add_problems(listed([everything]), total=len(rows) + 1)
        return None
    report.add_skipped(listed([]), len(skipped), every=rows, make=lambda part: _issues(part, ids))
    return skipped


def _canon(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.number):
        return round(float(value), 6)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _same(new: pd.Series, old: pd.Series, names: list[str]) -> bool:
    if not shapely.equals_exact(new.geometry, old.geometry, tolerance=GEOMETRY_TOLERANCE_DEG):
        return False
    return all(_canon(new.get(n)) == _canon(old.get(n)) for n in names)


def _diff(
    new: gpd.GeoDataFrame, existing: gpd.GeoDataFrame, layer: Layer, report: ImportReport, kept: set[str]
) -> None:
    stored = existing.set_index("id", drop=False)
    names = [n for n in layer.field_names if n != "id"]
    kinds: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": [], "removed": []}
    known = new["id"].isin(stored.index).to_numpy()
    kinds["added"] = new["id"].to_numpy()[~known].tolist()
    for _, row in new[known].iterrows():  # only features already stored are compared field by field
        kinds["unchanged" if _same(row, stored.loc[row["id"]], names) else "updated"].append(row["id"])
    if report.mode == "replace":
        kinds["removed"] = sorted(set(stored.index) - set(new["id"]) - kept)
    report.added, report.updated = len(kinds["added"]), len(kinds["updated"])
    report.unchanged, report.removed = len(kinds["unchanged"]), len(kinds["removed"])
    report.ids = {k: v[:MAX_LISTED] for k, v in kinds.items() if k != "unchanged"}


def _removal_refusal(report: ImportReport, stored: int, options: ImportOptions) -> str | None:
    """Warn about removed features; return why applying is refused when more are removed than allowed."""
    if not report.removed:
        return None
    listed = ", ".join(report.ids["removed"][:20])
    report.warnings.append(f"the import removes {report.removed} feature(s) absent from the file: {listed}")
    allowed = options.allow_remove if options.allow_remove is not None else int(stored * REMOVE_SHARE)
    if report.removed <= allowed:
        return None
    return (
        f"the import would remove {report.removed} of the {stored} stored features, more than the {allowed} "
        f"allowed without confirmation; confirm with allow_remove={report.removed} (--allow-remove {report.removed})"
    )


def _last_reported(store: FeatureStore, layer: Layer) -> dict[str, date]:
    history = store.history(layer.id) if layer.id in store.layers() else None
    if history is None or history.empty:
        return {}
    return {k: date.fromisoformat(v) for k, v in history.groupby("feature_id")["date"].max().items()}


def _history(
    new: gpd.GeoDataFrame, existing: gpd.GeoDataFrame, layer: Layer, options: ImportOptions, last: dict[str, date]
) -> SequenceABC[HistoryEntry]:
    if not layer.statuses or "status" not in new.columns:
        return []
    before = dict(zip(existing["id"], existing["status"], strict=True)) if "status" in existing.columns else {}
    initial, done, today = initial_status(layer), done_statuses(layer), options.today or date.today()
    prior = np.where(new["id"].isin(before).to_numpy(), new["id"].map(before).to_numpy(dtype=object), initial)
    needed = [c for c in ("id", "status", "completed_date", "updated_at", "progress_pct") if c in new.columns]
    changed = pd.DataFrame(new[needed])[new["status"].to_numpy(dtype=object) != prior]  # not every column copied
    if changed.empty:
        return []
    when = _dates(changed, "completed_date").where(changed["status"].isin(done).to_numpy())
    when = when.fillna(_dates(changed, "updated_at")).fillna(pd.Timestamp(today))
    # never before the feature's latest report, so that replaying the history ends on the imported status
    latest = pd.to_datetime(changed["id"].map(last))
    when = when.where(latest.isna() | (when >= latest), latest)
    percent = changed.get("progress_pct")
    percents = [None] * len(changed) if percent is None else pd.to_numeric(percent).astype(float).tolist()
    note = f"导入 import: {options.source or options.file_name or 'file'}"
    days = [day.date() for day in when.tolist()]
    return ImportHistory(
        layer.id, changed["id"].tolist(), days, changed["status"].tolist(), percents, note, options.author
    )


class ImportHistory(SequenceABC[HistoryEntry]):
    """The history entries of an import, kept as columns and made one at a time when read.

    An import of half a million features appends as many entries; as objects they would hold about a
    hundred megabytes until the write, as columns a fraction of it.
    """

    def __init__(
        self,
        layer: str,
        ids: list[Any],
        days: list[date],
        statuses: list[Any],
        percents: list[float | None],
        note: str,
        author: str,
    ) -> None:
        self._layer, self._ids, self._days, self._statuses = layer, ids, days, statuses
        self._percents, self._note, self._author = percents, note, author

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> HistoryEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[HistoryEntry]: ...

    def __getitem__(self, index: int | slice) -> HistoryEntry | list[HistoryEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        pct = self._percents[index]
        return HistoryEntry(
            layer=self._layer,
            feature_id=self._ids[index],
            date=self._days[index],
            status=self._statuses[index],
            percent=None if pct is None or np.isnan(pct) else pct,
            note=self._note,
            author=self._author,
        )

    def __iter__(self) -> Iterator[HistoryEntry]:
        return (self[i] for i in range(len(self)))


def _dates(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return the ``date`` cells of column ``name`` as timestamps (NaT for anything else, or all without it)."""
    if name not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    values = frame[name]
    cells = values.to_numpy(dtype=object)
    is_date = np.frompyfunc(lambda v: isinstance(v, date), 1, 1)(cells).astype(bool)
    return pd.to_datetime(pd.Series(np.where(is_date, cells, None), index=values.index, dtype=object))


def _build(
    prepared: Any, existing: gpd.GeoDataFrame, layer: Layer, options: ImportOptions, report: ImportReport
) -> Any:
    frame, provided, counties, kept_ids = prepared
    frame = carry_existing(frame, existing, provided, layer)
    if "is_demo" in layer.field_names:
        frame["is_demo"] = False
    if "source" in layer.field_names:
        frame["source"] = options.source or f"import: {options.file_name or 'file'}"
    report.warnings += assign_counties(frame, counties, layer)
    report.warnings += derive_measures(frame, layer)
    new = finish_frame(frame, layer, initial_status(layer) if layer.statuses else None)
    if (options.mode == "upsert" or kept_ids) and not existing.empty:
        # a skipped row leaves its stored feature as it is, in replace mode too
        others = ~existing["id"].isin(new["id"])
        kept = existing[others if options.mode == "upsert" else others & existing["id"].isin(kept_ids)]
        new_all = pd.concat([finish_frame(kept.copy(), layer, None), new], ignore_index=True)
        return new, gpd.GeoDataFrame(new_all, geometry="geometry", crs=4326)
    return new, new.reset_index(drop=True)


def import_file(
    store: FeatureStore,
    layer: Layer,
    path: str | Path,
    options: ImportOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a data file into ``layer``; the store changes only when the whole file passes every check.

    Parameters
    ----------
    store : FeatureStore
        The plan store (its ``counties`` layer bounds where features may lie).
    layer : Layer
        The catalogue layer to load.
    path : str or pathlib.Path
        GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf or CSV (lon/lat or WKT columns).
    options : ImportOptions, optional
        Mode (replace/upsert), dry run, field mapping, coordsys, source text...
    progress : callable, optional
        Called with (rows checked, rows) once every row is read and checked, before anything is written.

    Returns
    -------
    ImportReport
        ``status`` is ``applied``, ``dry_run`` or ``rejected`` (with ``problems`` naming rows and columns).

    Raises
    ------
    FileTooLarge
        When an archive has too many members or unpacks past the limit.
    FileTooComplex
        When the file has more features or vertices than ``options.read_limits`` allow.
    """
    options = options or ImportOptions()
    report = ImportReport(layer=layer.id, mode=options.mode, file_name=options.file_name, coordsys=options.coordsys)
    report.version_before = store.version(layer.id) if layer.id in store.layers() else None
    try:
        prepared = _prepare(store, layer, Path(path), options, report, progress=progress)
    except InvalidDataFile as exc:
        report.add_problems([RowIssue(problem=str(exc))])
        return report
    if prepared is None:
        return report
    if progress is not None:
        progress(report.rows, report.rows)
    warnings = list(report.warnings)
    for _ in range(SWAP_ATTEMPTS):
        report.warnings = list(warnings)
        version, final, entries, refusal = _plan(store, layer, prepared, options, report)
        if options.dry_run:
            report.warnings += [f"applying would be refused: {refusal}"] if refusal else []
            report.status = "dry_run"
            return report
        if refusal:
            report.add_problems([RowIssue(problem=refusal)])
            return report
        try:
            types = layer.column_types
            store.write_layer(layer.id, final, types=types, expected_version=version, history=entries)
        except StaleVersion:
            continue  # reports arrived while the file was read: build again on top of them
        report.status, report.version_after = "applied", store.version(layer.id)
        return report
    raise StaleVersion(f"{layer.id} kept changing while the import was applied; import it again")


def _plan(
    store: FeatureStore, layer: Layer, prepared: Any, options: ImportOptions, report: ImportReport
) -> tuple[str | None, gpd.GeoDataFrame, SequenceABC[HistoryEntry], str | None]:
    """Build the layer to write on the stored state now: its version, the frame, history entries, any refusal.

    The file was read and checked before, without holding anything; this step is quick, and the write
    that follows happens only if the layer is still at the version read here.
    """
    version = store.version(layer.id) if layer.id in store.layers() else None
    existing = _existing(store, layer)
    new, final = _build(prepared, existing, layer, options, report)
    _diff(new, existing, layer, report, prepared[3])
    entries = _history(new, existing, layer, options, _last_reported(store, layer))
    report.history_entries = len(entries)
    return version, final, entries, _removal_refusal(report, len(existing), options)

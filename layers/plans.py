"""Plans as data: a plan year's targets and their county quotas (任务分解), kept in the store and edited in planmap.

A plan is one JSON document per year (``FeatureStore.put_record("plan", "2025", ...)``, versioned, every
version kept). The catalogue holds layer schemas only; targets come from a plan. ``layers/data/plans/2025.json``
is the seed of the 2025 plan (the work plan's wording); it is written into a store that has no plan yet.

How the city counts: a target's city figure counts every project of the plan year in the city against the
city target, whatever the quotas say; the quotas are what each county's row is compared with. Quotas need
not add up to the city target (``quota_gap`` says by how much they differ).

Which plan a request means: ``plan=YEAR``, else the *current* plan: the active plan with the latest year
(drafts are being set and are never the default; closed plans are done).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from geo.storage.base import FeatureStore, StoredRecord
from layers.errors import InvalidPlan, UnknownPlan
from layers.lights import rules_of
from layers.plan_model import Plan, PlanTarget, StoredPlan, seed_plan
from layers.registry import LayerRegistry

KIND = "plan"
"""The store's record kind for plans."""


def parse_plan(body: Mapping[str, Any], registry: LayerRegistry) -> Plan:
    """Validate a plan document against the catalogue.

    Raises
    ------
    InvalidPlan
        Naming every problem: unknown or context layers, fields that are not numeric attributes of the
        layer, statuses the layer does not have, unknown counties, negative values.
    """
    try:
        plan = Plan.model_validate(body)
    except ValidationError as exc:
        raise InvalidPlan(_problems(exc)) from exc
    problems = [p for target in plan.targets for p in _target_problems(target, registry)]
    problems += _review_problems(plan, registry)
    if problems:
        raise InvalidPlan("; ".join(problems))
    rules_of(plan)  # the light thresholds must make sense too
    return plan


def _problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "invalid plan: " + "; ".join(parts)


def _target_problems(target: PlanTarget, registry: LayerRegistry) -> list[str]:
    if target.layer not in registry:
        return [
            f"target names unknown layer {target.layer!r}; project layers are {[x.id for x in registry.projects()]}"
        ]
    layer = registry.get(target.layer)
    if layer.kind != "project":
        return [f"layer {target.layer!r} is context, not a project layer"]
    problems = []
    numeric = {f.name for f in layer.fields if f.type in ("int", "float")}
    for name in [target.field] if target.field else []:
        if name not in numeric:
            problems.append(f"target {target.layer!r}: field {name!r} is not a numeric field of the layer")
    statuses = {s.value for s in layer.statuses}
    unknown = sorted(set(target.done_statuses) - statuses)
    if statuses and unknown:
        problems.append(f"target {target.layer!r}: unknown done status {unknown}; the layer has {sorted(statuses)}")
    for name in target.secondary:
        if name not in numeric:
            problems.append(f"target {target.layer!r}: secondary field {name!r} is not a numeric field of the layer")
    return problems


def _review_problems(plan: Plan, registry: LayerRegistry) -> list[str]:
    projects = {x.id for x in registry.projects()}
    unknown = sorted(set(plan.review) - projects)
    return [f"review names {unknown}, which are not project layers; project layers are {sorted(projects)}"] * bool(
        unknown
    )


def _stored(record: StoredRecord) -> StoredPlan:
    return StoredPlan(
        plan=Plan.model_validate(record.doc),
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


def list_plans(store: FeatureStore) -> list[StoredPlan]:
    """Return the stored plans, by year."""
    return sorted((_stored(r) for r in store.records(KIND)), key=lambda p: p.plan.year)


def get_plan(store: FeatureStore, year: int) -> StoredPlan:
    """Return the stored plan of ``year``; raise ``UnknownPlan`` naming the years there are."""
    record = store.record(KIND, str(year))
    if record is None:
        years = [p.plan.year for p in list_plans(store)]
        raise UnknownPlan(f"no plan for {year}; plans exist for {years}")
    return _stored(record)


def current_plan(store: FeatureStore) -> StoredPlan | None:
    """Return the active plan with the latest year (None when no plan is active)."""
    active = [p for p in list_plans(store) if p.plan.status == "active"]
    return active[-1] if active else None


def resolve_plan(store: FeatureStore, year: int | None) -> StoredPlan | None:
    """Return the plan a request means: ``year``'s, or the current plan when ``year`` is None."""
    return get_plan(store, year) if year is not None else current_plan(store)


def create_plan(store: FeatureStore, plan: Plan, author: str) -> StoredPlan:
    """Store a new plan; ``RecordExists`` (409) when its year has one."""
    return _stored(store.put_record(KIND, str(plan.year), _doc(plan), expected_version=None, author=author))


def replace_plan(store: FeatureStore, year: int, plan: Plan, expected_version: int, author: str) -> StoredPlan:
    """Replace the plan of ``year`` as changed from ``expected_version`` (the year itself cannot change)."""
    if plan.year != year:
        raise InvalidPlan(f"the plan's year is {year}; the body says {plan.year} (copy the plan to change its year)")
    return _stored(store.put_record(KIND, str(year), _doc(plan), expected_version=expected_version, author=author))


def delete_plan(store: FeatureStore, year: int, expected_version: int, author: str) -> None:
    """Delete a draft plan (its revisions stay); active and closed plans are closed, never deleted."""
    stored = get_plan(store, year)
    if stored.plan.status != "draft":
        raise InvalidPlan(f"plan {year} is {stored.plan.status}: only a draft can be deleted; close it instead")
    store.delete_record(KIND, str(year), expected_version=expected_version, author=author)


def copy_plan(store: FeatureStore, source_year: int, year: int, author: str) -> StoredPlan:
    """Create a draft plan for ``year`` with the structure of ``source_year``'s: same targets, units and quotas,
    due dates moved by the difference in years, title's year replaced; ``RecordExists`` if ``year`` has a plan."""
    source = get_plan(store, source_year).plan
    shift = year - source_year
    targets = tuple(t.model_copy(update={"due": _shift(t.due, shift)}) for t in source.targets)
    plan = source.model_copy(
        update={
            "year": year,
            "status": "draft",
            "title_zh": source.title_zh.replace(str(source_year), str(year)),
            "title_en": source.title_en.replace(str(source_year), str(year)),
            "source_zh": "",
            "targets": targets,
        }
    )
    return create_plan(store, Plan.model_validate(plan.model_dump()), author)


def _shift(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def ensure_seed(store: FeatureStore, author: str = "planmap") -> StoredPlan | None:
    """Write the 2025 seed plan into a store that has no plan yet; return it (None when plans exist)."""
    if store.records(KIND):
        return None
    return create_plan(store, seed_plan(), author)


def plan_history(store: FeatureStore, year: int) -> list[dict[str, Any]]:
    """Return every version of a plan, oldest first: version, action, author, time and the document."""
    return [
        {"version": r.version, "action": r.action, "author": r.author, "recorded_at": r.recorded_at, "plan": r.doc}
        for r in store.record_revisions(KIND, str(year))
    ]


def _doc(plan: Plan) -> dict[str, Any]:
    doc: dict[str, Any] = plan.model_dump(mode="json")
    return doc


def plan_changes(store: FeatureStore, last: int = 20) -> list[dict[str, Any]]:
    """Return the latest changes to any plan, newest first: year, version, action, author and time."""
    revisions = store.record_revisions(KIND)[-last:]
    return [
        {"year": r.key, "version": r.version, "action": r.action, "author": r.author, "recorded_at": r.recorded_at}
        for r in reversed(revisions)
    ]

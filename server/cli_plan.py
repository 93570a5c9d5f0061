"""``planmap plan``: list, show, copy, load and set the status of the plans kept in the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geo.errors import GeoError
from geo.storage.base import FeatureStore
from layers.errors import LayerError
from layers.plans import copy_plan, create_plan, current_plan, get_plan, list_plans, parse_plan, replace_plan
from layers.registry import load_catalogue
from server.settings import Settings

_AUTHOR = "cli"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plan`` commands."""
    plan = sub.add_parser("plan", help="plans: each year's targets and county quotas")
    actions = plan.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="list the plans (year, status, version; * marks the current one)")
    show = actions.add_parser("show", help="print a plan as JSON")
    show.add_argument("year", type=int)
    copy = actions.add_parser("copy", help="start a draft plan from another year's structure")
    copy.add_argument("source", type=int, help="the year to copy, e.g. 2025")
    copy.add_argument("year", type=int, help="the new plan's year, e.g. 2026")
    load = actions.add_parser("load", help="create or replace a plan from a JSON file")
    load.add_argument("file", help="plan JSON (the document `plan show` prints)")
    status = actions.add_parser("status", help="set a plan's status: draft, active or closed")
    status.add_argument("year", type=int)
    status.add_argument("status", choices=("draft", "active", "closed"))


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``plan`` command; problems are one line on stderr and exit code 2."""
    try:
        with settings.store.open() as store:
            if args.action == "list":
                current = current_plan(store)
                for p in list_plans(store):
                    mark = "*" if current and current.plan.year == p.plan.year else " "
                    print(f"{mark} {p.plan.year} {p.plan.status:7} v{p.version:<3} {p.plan.title_zh}")
            elif args.action == "show":
                stored = get_plan(store, args.year)
                print(json.dumps(stored.plan.model_dump(mode="json"), ensure_ascii=False, indent=2))
            elif args.action == "copy":
                made = copy_plan(store, args.source, args.year, _AUTHOR)
                print(f"plan {made.plan.year}: draft with {len(made.plan.targets)} targets copied from {args.source}")
            elif args.action == "load":
                _load(store, args.file)
            else:
                stored = get_plan(store, args.year)
                changed = stored.plan.model_copy(update={"status": args.status})
                replace_plan(store, args.year, changed, stored.version, _AUTHOR)
                print(f"plan {args.year}: {args.status}")
    except (GeoError, LayerError, OSError, ValueError) as exc:
        print(f"planmap plan: {exc}", file=sys.stderr)
        return 2
    return 0


def _load(store: FeatureStore, path: str) -> None:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError(f"{path} must hold one plan object")
    plan = parse_plan(body, load_catalogue())
    existing = {p.plan.year: p for p in list_plans(store)}.get(plan.year)
    if existing is None:
        create_plan(store, plan, _AUTHOR)
        print(f"plan {plan.year}: created")
    else:
        made = replace_plan(store, plan.year, plan, existing.version, _AUTHOR)
        print(f"plan {plan.year}: replaced (version {made.version})")

"""``planmap alerts run``: check every alert rule and deliver new events (for a cron job or systemd timer)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from geo.errors import GeoError
from layers.alerts import run_alerts
from layers.errors import LayerError
from layers.registry import load_catalogue
from server.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``alerts`` commands."""
    alerts = sub.add_parser("alerts", help="alerts: webhook, 企业微信, 钉钉 and e-mail notifications")
    actions = alerts.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="check every rule and send each new event once per destination")
    run.add_argument("--date", type=date.fromisoformat, default=None, help="evaluate as of this day (default today)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``alerts run``: print the counts as JSON; problems are one line on stderr and exit code 2."""
    try:
        with settings.store.open() as store:
            counts = run_alerts(store, load_catalogue().projects(), settings.alerts.config(), args.date)
    except (GeoError, LayerError) as exc:
        print(f"planmap alerts: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 1 if counts["failed"] else 0

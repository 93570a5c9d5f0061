"""``planmap user``: create, disable, enable, reset the password of and list accounts.

Passwords are never taken from the command line (other users see ``ps`` and the shell keeps a history):
they are asked twice at a terminal, or read from the first line of standard input with ``--password-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from geo.errors import GeoError
from layers.accounts import create_user, set_disabled, set_password
from layers.errors import LayerError
from layers.tokens import ROLES
from server.settings import Settings

_ACTOR = "cli"


def add_user_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``user create|disable|enable|reset-password|list`` to the ``planmap`` parser."""
    user = sub.add_parser("user", help="manage accounts (admin)")
    actions = user.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an account and set its password")
    create.add_argument("name", help="login name, e.g. zhang.san")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--display-name", default="", help="name shown in planmap, e.g. 张三")
    create.add_argument("--phone", help="phone number (optional)")
    create.add_argument("--county", default="", help="field accounts: county adcode(s), comma-separated")
    create.add_argument("--no-password", action="store_true", help="token sign-in only (no browser sign-in)")
    for name, text in (("disable", "disable an account (its sessions and tokens end)"), ("enable", "enable it again")):
        actions.add_parser(name, help=text).add_argument("name", help="login name")
    reset = actions.add_parser("reset-password", help="set a new password (the account's sessions end)")
    reset.add_argument("name", help="login name")
    for parser in (create, reset):
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="list accounts (never passwords)")


def read_password(from_stdin: bool) -> str:
    """Return a new password from standard input's first line, or asked twice at the terminal."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _run(settings: Settings, args: argparse.Namespace) -> None:
    with settings.store.open() as store:
        if args.action == "list":
            for u in store.users():
                state = "disabled" if u.disabled_at else ("password" if u.password_hash else "token-only")
                print(f"{u.user:20} {u.role:8} {','.join(u.counties) or '-':20} {state:10} {u.display_name}")
        elif args.action == "create":
            password = None if args.no_password else read_password(args.password_stdin)
            create_user(
                store,
                args.name,
                role=args.role,
                display_name=args.display_name,
                counties=args.county,
                phone=args.phone,
                password=password,
                actor=_ACTOR,
                clock=time.time,
            )
            print(f"account {args.name} ({args.role}) created", file=sys.stderr)
        elif args.action == "reset-password":
            set_password(store, args.name, read_password(args.password_stdin), actor=_ACTOR, clock=time.time)
            print(f"password of {args.name} set; its sessions ended", file=sys.stderr)
        else:
            set_disabled(store, args.name, args.action == "disable", actor=_ACTOR, clock=time.time)
            print(f"account {args.name} {args.action}d", file=sys.stderr)


def run_user(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``planmap user`` action; bad input is a message and exit status 2, never a traceback."""
    try:
        _run(settings, args)
    except (LayerError, GeoError, ValueError) as exc:
        print(f"planmap user: {exc}", file=sys.stderr)
        return 2
    return 0

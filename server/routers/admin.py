"""The administrators' account page (/admin/users) and the planners' access log (/audit/access).

Every form posts back with the session's CSRF token (``csrf_token`` field) and is answered with a
redirect to the page (post/redirect/get), except a new token, which is shown once on the page itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from geo.errors import GeoError, UnknownUser, UserExists
from layers.accounts import create_user, set_disabled, set_password
from layers.errors import InvalidAccount
from layers.tokens import ROLES, create_token, list_tokens, revoke_token
from server.auth import AdminDep, PlannerDep, SessionDep
from server.caching import NO_STORE
from server.deps import StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, html_response

router = APIRouter(tags=["Accounts"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

UserName = Annotated[str, Path(description="Login name", max_length=64)]
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}
_STATUS = {InvalidAccount: 400, ValueError: 400, UserExists: 409, UnknownUser: 404}


def _page(
    request: Request, store: StoreDep, session: SessionDep, *, error: str | None = None, new_token: str | None = None
) -> Response:
    tokens = {t.user: t for t in list_tokens(store)}
    context = {
        "users": store.users(),
        "tokens": tokens,
        "roles": ROLES,
        "csrf": session.csrf_token if session else "",
        "error": error,
        "new_token": new_token,
    }
    response = html_response(request, "admin_users.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


def _done() -> Response:
    return RedirectResponse("/admin/users", status_code=303)


def _refused(request: Request, store: StoreDep, session: SessionDep, exc: Exception) -> Response:
    response = _page(request, store, session, error=str(exc))
    response.status_code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return response


@router.get("/admin/users", operation_id="getUsers", summary="Accounts and tokens (admins)", responses=_HTML)
def users_page(request: Request, store: StoreDep, admin: AdminDep, session: SessionDep) -> Response:
    """List accounts with their roles, counties, state and tokens, with forms to manage them."""
    return _page(request, store, session)


@router.post("/admin/users", operation_id="createUser", summary="Create an account (admins)", responses=_HTML)
def create_account(
    request: Request,
    store: StoreDep,
    admin: AdminDep,
    session: SessionDep,
    user: Annotated[str, Form(max_length=64, description="Login name")],
    role: Annotated[str, Form(description="viewer, field, planner or admin")],
    password: Annotated[str, Form(max_length=256, description="Initial password; empty: token sign-in only")] = "",
    display_name: Annotated[str, Form(max_length=100, description="Name shown, e.g. 张三")] = "",
    phone: Annotated[str, Form(max_length=20, description="Phone number")] = "",
    counties: Annotated[str, Form(max_length=200, description="County adcodes, comma-separated")] = "",
) -> Response:
    """Create an account; the password is hashed with argon2id at once."""
    try:
        create_user(
            store,
            user.strip(),
            role=role,
            display_name=display_name,
            counties=counties,
            phone=phone,
            password=password or None,
            actor=admin.user,
            clock=request.app.state.clock,
        )
    except (InvalidAccount, UserExists) as exc:
        return _refused(request, store, session, exc)
    return _done()


@router.post("/admin/users/{name}/disable", operation_id="disableUser", summary="Disable an account (admins)")
def disable_account(request: Request, store: StoreDep, admin: AdminDep, name: UserName) -> Response:
    """Disable an account: its sessions and tokens stop working at once."""
    set_disabled(store, name, True, actor=admin.user, clock=request.app.state.clock)
    return _done()


@router.post("/admin/users/{name}/enable", operation_id="enableUser", summary="Enable an account again (admins)")
def enable_account(request: Request, store: StoreDep, admin: AdminDep, name: UserName) -> Response:
    """Enable a disabled account (its old tokens stay revoked)."""
    set_disabled(store, name, False, actor=admin.user, clock=request.app.state.clock)
    return _done()


@router.post("/admin/users/{name}/password", operation_id="resetPassword", summary="Set a password (admins)")
def reset_password(
    request: Request,
    store: StoreDep,
    admin: AdminDep,
    session: SessionDep,
    name: UserName,
    password: Annotated[str, Form(max_length=256, description="The new password")],
) -> Response:
    """Set a new password; the account's sessions end."""
    try:
        set_password(store, name, password, actor=admin.user, clock=request.app.state.clock)
    except InvalidAccount as exc:
        return _refused(request, store, session, exc)
    return _done()


@router.post("/admin/users/{name}/token", operation_id="createUserToken", summary="New token (admins)", responses=_HTML)
def new_token(request: Request, store: StoreDep, admin: AdminDep, session: SessionDep, name: UserName) -> Response:
    """Create (or replace) the account's token with its role and counties and show it once."""
    try:
        owner = store.user(name)
        if owner is None:
            raise UnknownUser(f"no account {name!r}")
        token = create_token(store, name, owner.role, owner.counties)
    except (ValueError, GeoError) as exc:
        return _refused(request, store, session, exc)
    return _page(request, store, session, new_token=token)


@router.post("/admin/users/{name}/token/revoke", operation_id="revokeUserToken", summary="Revoke a token (admins)")
def revoke_user_token(store: StoreDep, admin: AdminDep, name: UserName) -> Response:
    """Revoke the account's token."""
    revoke_token(store, name)
    return _done()


@router.get("/audit/access", operation_id="getAccessLog", summary="Sign-ins, failures, lock-outs (planners)")
def access_log(
    request: Request,
    store: StoreDep,
    planner: PlannerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Entries to skip")] = 0,
    f: Annotated[str | None, Query(description="`html` for a page, else JSON")] = None,
) -> Any:
    """Return the access log, newest first: sign-ins, failed and locked attempts, account changes."""
    events = [
        {**e.__dict__, "at": datetime.fromtimestamp(e.at_s, UTC).isoformat(timespec="seconds")}
        for e in store.auth_events(limit, offset)
    ]
    if f == "html" or (f is None and "text/html" in request.headers.get("accept", "")):
        response = html_response(request, "access_log.html", {"events": events})
        response.headers["Cache-Control"] = NO_STORE
        return response
    return events

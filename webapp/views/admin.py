"""Site admin: the users of the admin's own site, their roles and access."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from storage.db.tenancy import ROLES, User
from storage.errors import ValidationError
from webapp import user_admin
from webapp.authz import ADMIN_ROLES, load_user, requires, user_or_401
from webapp.context import services, unit_of_work

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _users_page(status: int = 200, **extra: object) -> tuple[str, int]:
    user = user_or_401()
    with unit_of_work() as db:
        users = user_admin.site_users(db, user.site_id)
    return render_template("admin/users.html", users=users, roles=ROLES, **extra), status


@bp.get("/users")
@requires(*ADMIN_ROLES)
def users() -> tuple[str, int]:
    """The site's users with their role, status and second-factor state."""
    return _users_page()


@bp.post("/users")
@requires(*ADMIN_ROLES)
def add() -> tuple[str, int]:
    """Add a user with a generated temporary password, shown once on this page."""
    admin = user_or_401()
    svc = services()
    form = request.form
    temporary = secrets.token_urlsafe(12)
    refused: ValidationError | None = None
    with unit_of_work() as db:
        try:
            created = user_admin.add_site_user(
                db,
                svc.audit,
                admin.actor,
                admin.site_id,
                email=form.get("email", "")[:320],
                role=form.get("role", ""),
                password=temporary,
                display_name=form.get("name", "").strip()[:200],
            )
            email = created.email
        except ValidationError as exc:
            refused = exc  # the refusal's audit entry commits with this unit of work
    if refused is not None:
        return _users_page(400, add_error=str(refused), form=form)
    return _users_page(201, created_email=email, temporary_password=temporary)


def _change(user_id: str, change: Callable[[Session, User], object], done: str) -> Response:
    """Load a user of the admin's site (404 otherwise), apply ``change``, report back."""
    try:
        with unit_of_work() as db:
            target = load_user(db, user_id)
            change(db, target)
            flash(done.format(email=target.email), "success")
    except ValidationError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/role")
@requires(*ADMIN_ROLES)
def role(user_id: str) -> Response:
    """Give a user another role (their sessions end)."""
    admin = user_or_401()
    new_role = request.form.get("role", "")
    audit = services().audit
    return _change(
        user_id,
        lambda db, u: user_admin.change_role(db, audit, admin.actor, admin.site_id, u.id, new_role),
        "{email} now has a new role.",
    )


@bp.post("/users/<user_id>/deactivate")
@requires(*ADMIN_ROLES)
def deactivate(user_id: str) -> Response:
    """Stop a user from signing in (their sessions end)."""
    admin = user_or_401()
    audit = services().audit
    return _change(
        user_id,
        lambda db, u: user_admin.set_active(db, audit, admin.actor, admin.site_id, u.id, False),
        "{email} can no longer sign in.",
    )


@bp.post("/users/<user_id>/activate")
@requires(*ADMIN_ROLES)
def activate(user_id: str) -> Response:
    """Let a deactivated user sign in again."""
    admin = user_or_401()
    audit = services().audit
    return _change(
        user_id,
        lambda db, u: user_admin.set_active(db, audit, admin.actor, admin.site_id, u.id, True),
        "{email} can sign in again.",
    )


@bp.post("/users/<user_id>/reset-totp")
@requires(*ADMIN_ROLES)
def reset_totp(user_id: str) -> Response:
    """Remove a user's second factor (e.g. a lost phone); they set it up again."""
    admin = user_or_401()
    audit = services().audit
    return _change(
        user_id,
        lambda db, u: user_admin.reset_totp(db, audit, admin.actor, admin.site_id, u.id),
        "Two-step sign-in was reset for {email}.",
    )


@bp.post("/users/<user_id>/logout-everywhere")
@requires(*ADMIN_ROLES)
def logout_everywhere(user_id: str) -> Response:
    """End every session of a user."""
    admin = user_or_401()
    audit = services().audit
    return _change(
        user_id,
        lambda db, u: user_admin.log_out_everywhere(db, audit, admin.actor, admin.site_id, u.id),
        "{email} has been signed out everywhere.",
    )


@bp.post("/users/<user_id>/reset-password")
@requires(*ADMIN_ROLES)
def reset_password(user_id: str) -> tuple[str, int]:
    """Give a user a temporary password, shown once; they choose their own at sign-in."""
    admin = user_or_401()
    audit = services().audit
    temporary = secrets.token_urlsafe(12)
    with unit_of_work() as db:
        target = load_user(db, user_id)
        if target.id == admin.id:
            email = ""
        else:
            user_admin.reset_password(db, audit, admin.actor, admin.site_id, target.id, temporary)
            email = target.email
    if not email:
        return _users_page(400, reset_error="Change your own password on your account page.")
    return _users_page(200, reset_email=email, temporary_password=temporary)

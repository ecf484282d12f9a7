"""Signing in (password, then a one-time code when enrolled) and signing out.

Every outcome is audited with ids only: ``auth.login``, ``auth.login_failed`` (reason
``password``, ``totp`` or ``throttled``) and ``auth.logout``.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from storage.accounts import authenticate
from storage.audit import Actor
from storage.db.tenancy import User
from webapp import sessions, throttle, totp
from webapp.authz import ALL_ROLES, public, requires, user_or_401
from webapp.context import client_address, current_user, services, unit_of_work
from webapp.errors import Throttled
from webapp.redirects import safe_next
from webapp.views.meta import home_url

bp = Blueprint("auth", __name__)

ANONYMOUS = "anonymous"


def _anonymous(site_id: str | None) -> Actor:
    return Actor(id=ANONYMOUS, role=ANONYMOUS, site_id=site_id)


@bp.get("/login")
@public
def login() -> str | Response:
    """The sign-in form (or the start page for someone already signed in)."""
    user = current_user()
    if user is not None and not user.must_enrol:
        return redirect(home_url(user.role))
    return render_template("auth/login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
@public
def login_submit() -> tuple[str, int] | Response:
    """Check email and password; then the second factor.

    Throttled per email and address, and per address alone (one address guessing many
    emails). Every attempt that is not throttled costs one Argon2 verification, whatever
    the account's state (storage.accounts.authenticate), so timing tells nothing.
    """
    svc = services()
    cfg = svc.settings
    email = request.form.get("email", "").strip().lower()[:320]
    password = request.form.get("password", "")[:1024]
    target = safe_next(request.form.get("next"))
    address = client_address()
    keys = throttle.login_keys(email, address)
    now = svc.clock.now()
    with unit_of_work() as db:
        known = db.execute(select(User.id, User.site_id).where(User.email == email)).first()
        actor = _anonymous(known.site_id if known else None)
        target_id = known.id if known else None
        wait = max(
            throttle.retry_after(
                db, keys.account, now=now, limit=cfg.login_attempts, window=cfg.login_window_seconds
            ),
            throttle.retry_after(
                db,
                keys.address,
                now=now,
                limit=cfg.login_address_attempts,
                window=cfg.login_window_seconds,
            ),
        )
        user = None if wait else authenticate(db, email, password)
        if user is None:
            if not wait:
                for key in keys:
                    throttle.record_failure(db, key, now=now, window=cfg.login_window_seconds)
            reason = "throttled" if wait else "password"
            svc.audit.append(
                db,
                actor,
                "auth.login_failed",
                target_type="user",
                target_id=target_id,
                details={"reason": reason},
            )
        else:
            # Only this email's count is forgiven: the address keeps its failures, so one
            # valid account cannot be used to reset a guessing run.
            throttle.clear(db, keys.account)
            throttle.prune(db, now=now, window=cfg.login_window_seconds)
            if user.totp_secret:
                sessions.begin_second_factor(db, user.id)
                return redirect(url_for("auth.second_factor", next=target))
            must_enrol = sessions.needs_enrolment(user.role, totp_enabled=False)
            sessions.begin(db, user, must_enrol=must_enrol)
            svc.audit.append(
                db,
                user_actor(user),
                "auth.login",
                target_type="user",
                target_id=user.id,
                details={"mfa": False, "enrol_required": must_enrol},
            )
            if must_enrol:
                return redirect(url_for("account.totp"))
            return redirect(target or home_url(user.role))
    if wait:
        raise Throttled(wait)
    page = render_template("auth/login.html", next=target, email=email, failed=True)
    return page, 401


def user_actor(user: User) -> Actor:
    """The audit actor of a user row."""
    return Actor(id=user.id, role=user.role, site_id=user.site_id)


@bp.get("/login/code")
@public
def second_factor() -> str | Response:
    """The one-time-code form of a user whose password was right."""
    if sessions.pending_second_factor() is None:
        return redirect(url_for("auth.login"))
    return render_template("auth/code.html", next=safe_next(request.args.get("next")))


@bp.post("/login/code")
@public
def second_factor_submit() -> tuple[str, int] | Response:
    """Check the one-time code (throttled per user); then start the session."""
    uid = sessions.pending_second_factor()
    if uid is None:
        flash("That took too long. Please sign in again.", "error")
        return redirect(url_for("auth.login"))
    svc = services()
    cfg = svc.settings
    target = safe_next(request.form.get("next"))
    code = request.form.get("code", "")[:32]
    key = throttle.throttle_key("totp", uid)
    now = svc.clock.now()
    with unit_of_work() as db:
        user = db.get(User, uid)
        if user is None or not user.active or not user.totp_secret:
            sessions.end(db)
            return redirect(url_for("auth.login"))
        actor = user_actor(user)
        wait = throttle.retry_after(
            db, key, now=now, limit=cfg.login_attempts, window=cfg.login_window_seconds
        )
        ok = not wait and totp.verify(db, user.id, user.totp_secret, code, now)
        if ok:
            throttle.clear(db, key)
            sessions.begin(db, user)
            svc.audit.append(
                db,
                actor,
                "auth.login",
                target_type="user",
                target_id=user.id,
                details={"mfa": True},
            )
            return redirect(target or home_url(user.role))
        if not wait:
            throttle.record_failure(db, key, now=now, window=cfg.login_window_seconds)
        svc.audit.append(
            db,
            actor,
            "auth.login_failed",
            target_type="user",
            target_id=user.id,
            details={"reason": "throttled" if wait else "totp"},
        )
    if wait:
        raise Throttled(wait)
    return render_template("auth/code.html", next=target, failed=True), 401


@bp.post("/logout")
@requires(*ALL_ROLES, allow_unenrolled=True)
def logout() -> Response:
    """Sign out of this browser: its session ends on the server too, so a copy of its
    cookie is refused from now on."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        svc.audit.append(db, user.actor, "auth.logout", target_type="user", target_id=user.id)
        sessions.end(db)
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))

"""Signed-cookie sessions: who is signed in, idle expiry and "log out everywhere".

The cookie (signed with the web secret, HttpOnly, SameSite=Lax, Secure unless turned off
for a plain-http demo) holds only ids and times. Each request re-reads the user, so a
deactivated user, a changed role or a bumped ``User.session_epoch`` ("log out
everywhere") takes effect on the next request of every session in every worker.
"""

from __future__ import annotations

from flask import flash, g, request, session
from sqlalchemy import select

from storage.db.tenancy import Site, User
from webapp.context import CurrentUser, services, unit_of_work

UID = "uid"
EPOCH = "epoch"
SEEN = "seen"
ENROL = "enrol"
PENDING = "pending_uid"
PENDING_AT = "pending_at"
#: Seconds a password-verified user has to type their one-time code.
SECOND_FACTOR_SECONDS = 300
#: Roles that must use a second factor when ``web.totp_required`` is on.
TOTP_ROLES = ("dpo", "admin")


def _now() -> int:
    return int(services().clock.now().timestamp())


def needs_enrolment(role: str, totp_enabled: bool) -> bool:
    """True if this role must set up a second factor before using the app."""
    return services().settings.totp_required and role in TOTP_ROLES and not totp_enabled


def begin(user: User, *, must_enrol: bool = False) -> None:
    """Start a fresh session for ``user`` (a new cookie and CSRF token: no fixation)."""
    session.clear()
    session.permanent = True
    session[UID] = user.id
    session[EPOCH] = user.session_epoch
    session[SEEN] = _now()
    if must_enrol:
        session[ENROL] = True


def finish_enrolment() -> None:
    """The user has set up their second factor: lift the enrolment-only restriction."""
    session.pop(ENROL, None)


def begin_second_factor(user_id: str) -> None:
    """The password was right; remember the user until the one-time code arrives."""
    session.clear()
    session[PENDING] = user_id
    session[PENDING_AT] = _now()


def pending_second_factor() -> str | None:
    """The user id waiting for its one-time code, if that wait has not run out."""
    uid = session.get(PENDING)
    started = session.get(PENDING_AT)
    if not isinstance(uid, str) or not isinstance(started, int):
        return None
    if _now() - started > SECOND_FACTOR_SECONDS:
        session.pop(PENDING, None)
        session.pop(PENDING_AT, None)
        return None
    return uid


EXPIRED = "You were signed out because verp was not used for a while."
REVOKED = "You were signed out. Please sign in again."


def _drop(reason: str) -> None:
    session.clear()
    flash(reason, "info")


def end() -> None:
    """Forget the session (log out this browser)."""
    session.clear()


def load_user() -> None:
    """``before_request`` hook: set ``g.user`` from the cookie, enforcing expiry and epoch.

    A dropped session leaves a message for the sign-in page saying why.
    """
    g.user = None
    if request.endpoint == "static":
        return
    uid = session.get(UID)
    if not isinstance(uid, str):
        return
    settings = services().settings
    now = _now()
    seen = session.get(SEEN)
    if not isinstance(seen, int) or now - seen > settings.session_minutes * 60:
        _drop(EXPIRED)
        return
    with unit_of_work() as db:
        row = db.execute(
            select(User, Site).join(Site, Site.id == User.site_id).where(User.id == uid)
        ).first()
    if row is None:
        session.clear()
        return
    user, site = row
    if not user.active or session.get(EPOCH) != user.session_epoch:
        _drop(REVOKED)
        return
    session[SEEN] = now
    g.user = CurrentUser(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        site_id=site.id,
        site_slug=site.slug,
        site_name=site.name,
        totp_enabled=user.totp_secret is not None,
        must_enrol=bool(session.get(ENROL)),
    )

"""Signed-in sessions: a signed cookie bound to a server-side row, with idle expiry.

The cookie (signed with the web secret, HttpOnly, SameSite=Lax, Secure unless turned off
for a plain-http demo) holds only a random session id and times; the id's row in
``login_sessions`` (storage/login_sessions.py) must be alive on every request. Signing
out revokes the row, so a copy of the cookie dies with it; "log out everywhere", a
password change, a second-factor reset, a role change and deactivation revoke every row
of the user. Each request also re-reads the user, so a deactivated user or a changed
role takes effect on the next request in every worker.

A new id is issued whenever a browser proves more about who it is — at sign-in (after
the one-time code, for enrolled users) and when a second factor is set up — and the old
one is revoked, so an id known before that (session fixation) is worth nothing.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from flask import flash, g, request, session
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from storage import login_sessions
from storage.db.tenancy import Site, User
from storage.db.web import LoginSession
from webapp.context import CurrentUser, services, unit_of_work

SID = "sid"
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


def _idle() -> timedelta:
    return timedelta(minutes=services().settings.session_minutes)


def _revoke_current(db: Session) -> None:
    """End the server-side session this browser had, if any (before it gets a new one)."""
    sid = session.get(SID)
    if isinstance(sid, str):
        login_sessions.revoke(db, sid, services().clock.now())


def needs_enrolment(role: str, totp_enabled: bool) -> bool:
    """True if this role must set up a second factor before using the app."""
    return services().settings.totp_required and role in TOTP_ROLES and not totp_enabled


def begin(db: Session, user: User, *, must_enrol: bool = False) -> None:
    """Start a fresh session for ``user``: a new server-side row and id, a new cookie and
    CSRF token (no fixation). This browser's previous session, if any, is revoked."""
    _revoke_current(db)
    session.clear()
    session.permanent = True
    session[SID] = login_sessions.start(
        db, user_id=user.id, site_id=user.site_id, now=services().clock.now(), idle=_idle()
    )
    session[SEEN] = _now()
    if must_enrol:
        session[ENROL] = True


def finish_enrolment(db: Session, user: CurrentUser) -> None:
    """The user has set up their second factor: lift the enrolment-only restriction and
    move the session to a new id (it now carries more privilege)."""
    _revoke_current(db)
    session[SID] = login_sessions.start(
        db, user_id=user.id, site_id=user.site_id, now=services().clock.now(), idle=_idle()
    )
    session.pop(ENROL, None)


def begin_second_factor(db: Session, user_id: str) -> None:
    """The password was right; remember the user until the one-time code arrives.

    The waiting browser has no session row yet: a session starts only after the code.
    """
    _revoke_current(db)
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


def end(db: Session) -> None:
    """Sign this browser out: revoke its session row (copies of the cookie die with it)
    and forget the cookie."""
    _revoke_current(db)
    session.clear()


@functools.cache
def _session_query() -> Select[LoginSession, User, Site]:
    """A session row with its user and site, by ``id_hash`` (a bound parameter).

    Built once: building the expression costs more than running it, on every request.
    """
    return (
        select(LoginSession, User, Site)
        .join(User, User.id == LoginSession.user_id)
        .join(Site, Site.id == User.site_id)
        .where(LoginSession.id_hash == bindparam("id_hash"))
    )


def load_user() -> None:
    """``before_request`` hook: set ``g.user`` from the cookie and its live session row.

    The session ends when this browser was idle too long (the cookie's exact stamp, which
    also revokes the row), when its row is revoked, idle-expired or gone, or when the
    user was deactivated; a dropped session leaves a message for the sign-in page saying
    why. A live row's last use is recorded at most once a minute.
    """
    g.user = None
    if request.endpoint == "static":
        return
    sid = session.get(SID)
    if not isinstance(sid, str):
        return
    now = services().clock.now()
    idle = _idle()
    seen = session.get(SEEN)
    with unit_of_work() as db:
        if not isinstance(seen, int) or now.timestamp() - seen > idle.total_seconds():
            login_sessions.revoke(db, sid, now)
            _drop(EXPIRED)
            return
        row = db.execute(_session_query(), {"id_hash": login_sessions.hash_id(sid)}).first()
        if row is None:
            _drop(REVOKED)
            return
        live, user, site = row
        why = login_sessions.ended(live, now)
        if why is not None or not user.active:
            _drop(EXPIRED if why == "expired" else REVOKED)
            return
        login_sessions.touch(live, now, idle)
    stamp = int(now.timestamp())
    if seen != stamp:
        # Only a new stamp modifies the session: the cookie is then re-signed and sent
        # (with a fresh expiry); several requests within one second send no cookie.
        session[SEEN] = stamp
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
        must_change_password=user.must_change_password,
    )

"""Authorisation: THE one place that decides who may use which route and see which row.

Every view declares its policy with :func:`requires` (or :func:`public`); a view without
one is refused by :func:`enforce_declared` (deny by default), and the authorisation
matrix test fails for any route missing from its table. Rows are fetched only through
the scoped loaders below, which raise NotFound for anything of another site, so a user of
site A gets 404 for site B's clips, users, holds and consents alike.

Roles (see DOMAIN.md and docs/programme.md): facilitators see the clips of the groups they
co-facilitate, plus clips they uploaded or in which they are the filmed trainee; supervisors
see every clip of their site, plus a clip of another site while it is shared with them for
supervision (an active share: not expired, revoked or ended by withdrawal; nothing else of
that site); DPOs and admins see metadata, consent, retention and audit but never footage
bytes (posters and thumbnails count as footage). A group-session recording is played only
while every family present consents to the purpose.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, url_for
from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session, aliased

from storage.db.footage import Clip, Consent
from storage.db.programme import ClipFamily, ClipShare, Group, GroupFacilitator
from storage.db.tenancy import ROLES, User
from storage.errors import NotFound, PermissionDenied
from storage.programme import is_facilitator
from storage.purposes import VIEWING_ROLES, check_clip_purpose, default_purpose
from webapp.context import CurrentUser, current_user, services
from webapp.errors import Unauthenticated, wants_json

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTR = "__verp_policy__"

ALL_ROLES: tuple[str, ...] = ROLES
#: Roles that may receive footage bytes (renditions, posters, thumbnails, stills).
FOOTAGE_ROLES: tuple[str, ...] = VIEWING_ROLES
UPLOAD_ROLES: tuple[str, ...] = ("facilitator", "supervisor")
GOVERNANCE_ROLES: tuple[str, ...] = ("dpo", "admin")
ADMIN_ROLES: tuple[str, ...] = ("admin",)


@dataclass(frozen=True)
class Policy:
    """Who may call a view. ``public`` views need no session at all."""

    roles: tuple[str, ...]
    purpose: str | None = None
    footage: bool = False
    public: bool = False
    allow_unenrolled: bool = False


def requires(
    *roles: str,
    purpose: str | None = None,
    footage: bool = False,
    allow_unenrolled: bool = False,
) -> Callable[[F], F]:
    """Restrict a view to signed-in users with one of ``roles``.

    ``footage=True`` marks views that send footage bytes: listing a role outside
    FOOTAGE_ROLES is a programming error (ValueError at import), and :func:`load_clip`
    then checks the consent purpose (``purpose``, else the role's default purpose).
    ``allow_unenrolled`` lets a user who still has to set up TOTP, or to replace a
    password an admin set, reach the view (the first-sign-in steps).
    The wrapped view raises Unauthenticated without a session and PermissionDenied for
    another role.
    """
    unknown = [r for r in roles if r not in ALL_ROLES]
    if unknown or not roles:
        raise ValueError(f"requires(): unknown or no roles {unknown or roles}")
    if footage and any(r not in FOOTAGE_ROLES for r in roles):
        raise ValueError(f"requires(): roles {roles} may not receive footage")
    policy = Policy(
        roles=tuple(roles), purpose=purpose, footage=footage, allow_unenrolled=allow_unenrolled
    )

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                raise Unauthenticated()
            if user.must_change_password and not policy.allow_unenrolled:
                if wants_json():
                    raise PermissionDenied("choose a new password first")
                return redirect(url_for("account.new_password"))
            if user.must_enrol and not policy.allow_unenrolled:
                if wants_json():
                    raise PermissionDenied("set up a second factor first")
                return redirect(url_for("account.totp"))
            if user.role not in policy.roles:
                raise PermissionDenied(f"role {user.role} may not use {request.endpoint}")
            g.policy = policy
            return view(*args, **kwargs)

        setattr(guarded, POLICY_ATTR, policy)
        return cast(F, guarded)

    return decorate


def public(view: F) -> F:
    """Mark a view that anyone may call (the login page, health check)."""
    setattr(view, POLICY_ATTR, Policy(roles=(), public=True))
    return view


def policy_of(view: Callable[..., Any] | None) -> Policy | None:
    """The declared policy of a view function, or None if it declared none."""
    return cast(Policy | None, getattr(view, POLICY_ATTR, None))


def protect_blueprint_views(app: Flask, blueprint_name: str, *roles: str) -> None:
    """Wrap every view of an already registered blueprint that declared no policy.

    For blueprints written elsewhere (the tus endpoint) so they, too, pass through
    :func:`requires`.
    """
    prefix = f"{blueprint_name}."
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.startswith(prefix) and policy_of(view) is None:
            app.view_functions[endpoint] = requires(*roles)(view)


def enforce_declared() -> None:
    """``before_request`` hook: refuse any route whose view declared no policy."""
    if request.endpoint is None or request.endpoint == "static":
        return
    view = current_app.view_functions.get(request.endpoint)
    if policy_of(view) is None:
        current_app.logger.error("route %s has no authorisation policy", request.endpoint)
        raise PermissionDenied("route has no authorisation policy")


def user_or_401() -> CurrentUser:
    """The signed-in user; raises Unauthenticated (for views behind :func:`requires`)."""
    user = current_user()
    if user is None:
        raise Unauthenticated()
    return user


# -- scoped loaders ------------------------------------------------------------------


def clip_scope(user: CurrentUser) -> ColumnElement[bool]:
    """The WHERE clause of the clips ``user`` may know about.

    Everyone is confined to their site; a facilitator further to the clips of the groups
    they co-facilitate and clips they uploaded or in which they are the filmed trainee; a
    supervisor reaches beyond their site only the clips actively shared with them.
    """
    return _scope(user.role, user.site_id, user.id, services().clock.now())


def _scope(role: str, site_id: Any, user_id: Any, now: Any) -> ColumnElement[bool]:
    """:func:`clip_scope` for values or bound parameters (``bindparam``)."""
    own_site: ColumnElement[bool] = Clip.site_id == site_id
    if role == "facilitator":
        groups = select(GroupFacilitator.group_id).where(GroupFacilitator.user_id == user_id)
        case_team = or_(
            Clip.uploaded_by == user_id, Clip.trainee_id == user_id, Clip.group_id.in_(groups)
        )
        return and_(own_site, case_team)
    if role == "supervisor":
        shared = select(ClipShare.clip_id).where(
            ClipShare.supervisor_id == user_id,
            ClipShare.revoked_at.is_(None),
            ClipShare.expires_at > now,
        )
        return or_(own_site, Clip.id.in_(shared))
    return own_site


@functools.cache
def _footage_clip_query(role: str) -> Select[Clip, Consent, Consent]:
    """A clip in the scope of a user of ``role``, with its consent and the consents of the
    families present in it (one round trip: a row per family present, at least one).

    Built once per role with bound parameters ``clip_id``, ``site_id``, ``user_id`` and
    ``now``: building the expression anew costs more than running it on every Range request.
    """
    present = aliased(Consent, name="present_consent")
    return (
        select(Clip, Consent, present)
        .outerjoin(Consent, Consent.id == Clip.consent_id)
        .outerjoin(ClipFamily, ClipFamily.clip_id == Clip.id)
        .outerjoin(present, present.id == ClipFamily.consent_id)
        .where(
            Clip.id == bindparam("clip_id"),
            _scope(role, bindparam("site_id"), bindparam("user_id"), bindparam("now")),
        )
    )


def load_clip(
    db: Session, clip_id: str, *, footage: bool = False, purpose: str | None = None
) -> Clip:
    """The clip ``clip_id`` if the current user may know about it.

    With ``footage=True`` the caller is about to send footage-derived bytes: the role
    must be a footage role (PermissionDenied) and the consent must cover ``purpose``
    (else the view's declared purpose, else the role's default) — ConsentError, or
    NotFound for a destroyed clip. Raises NotFound for unknown ids, other sites' clips
    and clips outside a facilitator's own.
    """
    user = user_or_401()
    if not footage:
        clip = db.scalar(select(Clip).where(Clip.id == clip_id, clip_scope(user)))
        if clip is None:
            raise NotFound(f"clip {clip_id}")
        return clip
    # Footage: the consents come in the same query (one round trip less per Range request).
    params = {
        "clip_id": clip_id,
        "site_id": user.site_id,
        "user_id": user.id,
        "now": services().clock.now(),
    }
    rows = db.execute(_footage_clip_query(user.role), params).all()
    if not rows:
        raise NotFound(f"clip {clip_id}")
    clip, consent, _ = rows[0]
    present = [row[2] for row in rows if row[2] is not None]
    if user.role not in FOOTAGE_ROLES:
        raise PermissionDenied(f"role {user.role} does not receive footage")
    policy = cast(Policy | None, g.get("policy"))
    chosen = purpose or (policy.purpose if policy else None)
    check_clip_purpose(clip, consent, chosen or default_purpose(clip.kind, user.role), present)
    return clip


def load_site_row(db: Session, model: type[Any], row_id: str) -> Any:
    """Any row with a ``site_id`` column, only if it belongs to the user's site (NotFound)."""
    user = user_or_401()
    row = db.get(model, row_id)
    if row is None or getattr(row, "site_id", None) != user.site_id:
        raise NotFound(f"{model.__name__} {row_id}")
    return row


def load_user(db: Session, user_id: str) -> User:
    """A user account of the current user's site (NotFound for other sites)."""
    return cast(User, load_site_row(db, User, user_id))


def load_consent(db: Session, consent_id: str) -> Consent:
    """A consent of the current user's site (NotFound for other sites)."""
    return cast(Consent, load_site_row(db, Consent, consent_id))


def load_group(db: Session, group_id: str) -> Group:
    """A group the current user may see: any group of their site, or for a facilitator
    only a group they co-facilitate (NotFound otherwise, as for another site's rows)."""
    user = user_or_401()
    group = cast(Group, load_site_row(db, Group, group_id))
    if user.role == "facilitator" and not is_facilitator(db, group.id, user.id):
        raise NotFound(f"Group {group_id}")
    return group

"""Who may change the programme records, and loading rows only within a site.

Groups, families and users are managed by a site's admins and supervisors (the
operational lead is usually a supervisor); an operator at the command line acts as a
system actor for any site. A row of another site is reported as not found.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from storage.audit import Actor
from storage.db.base import Base
from storage.db.tenancy import User
from storage.errors import NotFound, PermissionDenied

M = TypeVar("M", bound=Base)

#: Roles that manage groups, schedules and families (plus the system actor of the CLI).
MANAGE_ROLES = ("admin", "supervisor")
#: Roles a co-facilitator may have: practitioners who deliver groups.
FACILITATOR_ROLES = ("facilitator", "supervisor")


def require_role(actor: Actor, roles: tuple[str, ...], what: str) -> None:
    """Raise PermissionDenied unless ``actor`` is the system or has one of ``roles``."""
    if actor.role != "system" and actor.role not in roles:
        raise PermissionDenied(f"role {actor.role!r} may not {what}")


def require_site(actor: Actor, site_id: str) -> None:
    """Raise NotFound when a user of another site acts on ``site_id`` (tenancy hides it)."""
    if actor.role != "system" and actor.site_id != site_id:
        raise NotFound("no such site")


def site_row(session: Session, model: type[M], row_id: str | None, site_id: str | None) -> M:
    """The row ``row_id`` of ``model`` if it belongs to ``site_id`` (None: any site).

    Raises NotFound otherwise, naming only the kind of row.
    """
    row = session.get(model, row_id) if row_id else None
    if row is None or (site_id is not None and getattr(row, "site_id", None) != site_id):
        raise NotFound(f"no such {model.__name__.lower()}")
    return row


def actor_site(actor: Actor) -> str | None:
    """The site an actor is confined to (None for the system actor)."""
    return None if actor.role == "system" else actor.site_id


def active_user(session: Session, user_id: str | None, site_id: str | None) -> User:
    """An active user of ``site_id`` (None: any site); NotFound otherwise."""
    user = site_row(session, User, user_id, site_id)
    if not user.active:
        raise NotFound("no such user")
    return user

"""Practitioners' disciplines: every group has one co-facilitator from health and one
from children's services, so a practitioner's account records which they are."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.programme import DISCIPLINES
from storage.db.tenancy import User
from storage.errors import ValidationError
from storage.programme.scope import FACILITATOR_ROLES, require_role, require_site, site_row


def set_discipline(
    session: Session, audit: AuditLog, actor: Actor, user_id: str, discipline: str | None
) -> User:
    """Record a practitioner's discipline (None clears it); audited ``user.discipline``.

    Setting the discipline a user already has changes nothing. Raises PermissionDenied
    (only admins and the system), NotFound (a user of another site) and ValidationError (an
    unknown discipline, or a user who is not a practitioner).
    """
    require_role(actor, ("admin",), "change a user's discipline")
    user = site_row(session, User, user_id, None)
    require_site(actor, user.site_id)
    if discipline is not None and discipline not in DISCIPLINES:
        raise ValidationError(f"discipline must be one of {', '.join(DISCIPLINES)}")
    if discipline is not None and user.role not in FACILITATOR_ROLES:
        raise ValidationError(f"a {user.role} has no practitioner discipline")
    if user.discipline == discipline:
        return user
    old, user.discipline = user.discipline, discipline
    session.flush()
    audit.append(
        session,
        actor,
        "user.discipline",
        target_type="user",
        target_id=user.id,
        site_id=user.site_id,
        details={"old": old, "new": discipline},
    )
    return user

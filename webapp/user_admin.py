"""Managing a site's user accounts: roles, deactivation, second factors, sessions, passwords.

Service functions (no Flask): each takes a unit of work, the audit log and the acting
user, changes one thing, audits it (ids and roles only) and raises ValidationError —
changing nothing — for bad input, NotFound for a user of another site.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import login_sessions
from storage.accounts import MIN_PASSWORD, add_user, check_password, hash_password
from storage.audit import Actor, AuditLog
from storage.db.tenancy import ROLES, User
from storage.errors import NotFound, ValidationError


class WrongPassword(ValidationError):
    """The current password given to confirm a change is not the user's password."""


#: The one answer to every refused add. Saying *why* (malformed, or taken) would tell an
#: admin of one site who has an account at another: emails are unique across sites.
ADD_REFUSED = (
    "This account could not be added. Check the email address and the role; if it "
    "still cannot be added, ask the national verp team."
)


def add_site_user(
    db: Session,
    audit: AuditLog,
    actor: Actor,
    site_id: str,
    *,
    email: str,
    role: str,
    password: str,
    display_name: str = "",
) -> User:
    """Add an account to the admin's own site (storage.accounts.add_user); the user must
    choose their own password at first sign-in.

    Raises ValidationError with the neutral ADD_REFUSED text for every refusal (bad
    email or role, or an email already in use at any site), and audits the refusal as
    ``user.create_refused`` without the reason (admins read the audit log too). Nothing
    else is stored when it raises.
    """
    try:
        # add_user checks everything before it stores anything.
        user = add_user(
            db,
            audit,
            actor,
            site_id=site_id,
            email=email,
            role=role,
            password=password,
            display_name=display_name,
        )
    except ValidationError:
        audit.append(db, actor, "user.create_refused", target_type="user", site_id=site_id)
        raise ValidationError(ADD_REFUSED) from None
    # The admin chose (or was shown) this password: the user replaces it at first sign-in.
    user.must_change_password = True
    return user


def site_users(db: Session, site_id: str) -> list[User]:
    """Every account of a site, active first, then by email."""
    query = select(User).where(User.site_id == site_id).order_by(User.active.desc(), User.email)
    return list(db.scalars(query))


def _user(db: Session, site_id: str, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None or user.site_id != site_id:
        raise NotFound(f"user {user_id}")
    return user


def _active_admins(db: Session, site_id: str) -> int:
    query = select(func.count(User.id)).where(
        User.site_id == site_id, User.role == "admin", User.active.is_(True)
    )
    return db.scalar(query) or 0


def _guard_last_admin(db: Session, user: User, actor: Actor) -> None:
    if user.id == actor.id:
        raise ValidationError("You cannot change your own role or deactivate yourself.")
    if user.role == "admin" and user.active and _active_admins(db, user.site_id) <= 1:
        raise ValidationError("A site needs at least one active admin.")


def _end_sessions(db: Session, audit: AuditLog, user: User) -> None:
    """Revoke every session of ``user`` (storage.login_sessions), in this unit of work."""
    login_sessions.revoke_all(db, user.id, audit.clock.now())


def _audit(
    db: Session, audit: AuditLog, actor: Actor, action: str, user: User, **details: object
) -> None:
    audit.append(
        db,
        actor,
        action,
        target_type="user",
        target_id=user.id,
        site_id=user.site_id,
        details=details,
    )


def change_role(
    db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str, role: str
) -> User:
    """Give a user another role; their sessions end (privileges change at once)."""
    if role not in ROLES:
        raise ValidationError(f"Choose a role: {', '.join(ROLES)}.")
    user = _user(db, site_id, user_id)
    if user.role == role:
        return user
    _guard_last_admin(db, user, actor)
    old = user.role
    user.role = role
    _end_sessions(db, audit, user)
    _audit(db, audit, actor, "user.role", user, old=old, new=role)
    return user


def set_active(
    db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str, active: bool
) -> User:
    """Deactivate (sessions end, login refused) or reactivate an account."""
    user = _user(db, site_id, user_id)
    if user.active == active:
        return user
    if not active:
        _guard_last_admin(db, user, actor)
        _end_sessions(db, audit, user)
    user.active = active
    _audit(db, audit, actor, "user.activate" if active else "user.deactivate", user)
    return user


def reset_totp(db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str) -> User:
    """Remove a user's second factor (lost phone); they enrol again at next login."""
    user = _user(db, site_id, user_id)
    user.totp_secret = None
    _end_sessions(db, audit, user)
    _audit(db, audit, actor, "user.totp_reset", user)
    return user


def log_out_everywhere(
    db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str
) -> User:
    """End every session of a user, in every browser and worker (their rows are revoked)."""
    user = _user(db, site_id, user_id)
    _end_sessions(db, audit, user)
    _audit(db, audit, actor, "user.logout_everywhere", user)
    return user


def enable_totp(
    db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str, secret: str
) -> User:
    """Store a confirmed TOTP secret for a user (after they typed a valid code)."""
    user = _user(db, site_id, user_id)
    user.totp_secret = secret
    _audit(db, audit, actor, "user.totp_enrol", user)
    return user


def change_password(
    db: Session,
    audit: AuditLog,
    actor: Actor,
    site_id: str,
    user_id: str,
    current: str,
    new: str,
    confirm: str,
) -> User:
    """Change one's own password; other sessions end. WrongPassword (a ValidationError)
    for a wrong current password, ValidationError for a mismatch or a too-short one."""
    user = _user(db, site_id, user_id)
    if not check_password(user.password_hash, current):
        raise WrongPassword("Your current password is not right.")
    if new != confirm:
        raise ValidationError("The two new passwords are not the same.")
    if len(new) < MIN_PASSWORD:
        raise ValidationError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if new == current:
        raise ValidationError("Choose a new password, not the one you have now.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    _end_sessions(db, audit, user)
    _audit(db, audit, actor, "user.password", user)
    return user


def reset_password(
    db: Session, audit: AuditLog, actor: Actor, site_id: str, user_id: str, temporary: str
) -> User:
    """An admin sets a temporary password (a forgotten one): the user's sessions end and
    they must choose their own at the next sign-in. ValidationError for a too-short one,
    NotFound for a user of another site."""
    if len(temporary) < MIN_PASSWORD:
        raise ValidationError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    user = _user(db, site_id, user_id)
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    _end_sessions(db, audit, user)
    _audit(db, audit, actor, "user.password_reset", user)
    return user

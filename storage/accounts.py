"""Sites and user accounts: creation, lookup and Argon2id password hashing."""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.tenancy import ROLES, Site, User
from storage.errors import NotFound, ValidationError

_HASHER = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """True if the password matches; never raises for a wrong password."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    """A fixed hash to verify against when the email is unknown, so timing does not
    reveal which accounts exist (computed on first use, not at import)."""
    return _HASHER.hash("verp-no-such-user-padding")


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    Exactly one Argon2 verification runs whatever the account's state (unknown,
    deactivated, wrong password, right password), so the time taken does not reveal
    which accounts exist or are deactivated.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    matches = check_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not user.active or not matches:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def create_site(session: Session, audit: AuditLog, actor: Actor, slug: str, name: str) -> Site:
    """Create a site; raises ValidationError for a bad or taken slug."""
    if not _SLUG.match(slug):
        raise ValidationError(
            "site slug must be lower-case letters, digits and hyphens (max 63 characters)"
        )
    if session.scalar(select(Site).where(Site.slug == slug)) is not None:
        raise ValidationError(f"site {slug!r} already exists")
    site = Site(slug=slug, name=name or slug, created_at=audit.clock.now())
    session.add(site)
    session.flush()
    audit.append(
        session, actor, "site.create", target_type="site", target_id=site.id, site_id=site.id
    )
    return site


def site_by_slug(session: Session, slug: str) -> Site:
    site = session.scalar(select(Site).where(Site.slug == slug))
    if site is None:
        raise NotFound(f"no site {slug!r}")
    return site


def add_user(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    site_id: str,
    email: str,
    role: str,
    password: str,
    display_name: str = "",
) -> User:
    """Create a user at a site; raises ValidationError for bad input (nothing is stored)."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationError(f"{email!r} is not an email address. Check it and try again.")
    if role not in ROLES:
        raise ValidationError(f"The role must be one of {', '.join(ROLES)}; {role!r} is not.")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"The password must be at least {MIN_PASSWORD} characters long.")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise ValidationError(f"A user with the email {email} already exists.")
    user = User(
        site_id=site_id,
        email=email,
        role=role,
        display_name=display_name or email.split("@", 1)[0],
        password_hash=hash_password(password),
        created_at=audit.clock.now(),
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        actor,
        "user.create",
        target_type="user",
        target_id=user.id,
        site_id=site_id,
        details={"role": role},
    )
    return user

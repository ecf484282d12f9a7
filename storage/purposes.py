"""Purpose checks: every use of footage must be covered by the clip's consent.

Consent is given per purpose (``storage.db.footage.PURPOSES``). The uses map to purposes so:

=====================================  =================
use                                     purpose
=====================================  =================
facilitator plays/annotates a home      family-review
visit, prepares or shows a shared
review with the family
supervisor plays/annotates/signs off    supervision
any clip; trainee reviews own group
delivery footage
showing or exporting for a training     training-events
event
programme evaluation (coding,           evaluation
agreement studies, exports for it)
=====================================  =================

Callers ask :func:`default_purpose` for the purpose of an ordinary playback, or name the
purpose of an explicit action (an export "for a training event"), then call
:func:`require_clip_purpose` before touching any bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import PURPOSES, Clip, Consent
from storage.db.programme import ClipFamily
from storage.errors import ConsentError, NotFound, PermissionDenied, ValidationError

#: Roles that may view footage at all; DPOs and admins audit metadata, never footage.
VIEWING_ROLES = ("facilitator", "supervisor")


def default_purpose(kind: str, role: str) -> str:
    """The purpose of an ordinary playback/annotation of a clip of ``kind`` by ``role``.

    Raises PermissionDenied for roles that never view footage (dpo, admin).
    """
    if role not in VIEWING_ROLES:
        raise PermissionDenied(f"role {role!r} does not view footage")
    if kind == "home-visit" and role == "facilitator":
        return "family-review"
    return "supervision"


def require_purpose(consent: Consent, purpose: str) -> None:
    """Raise ConsentError unless ``consent`` still covers ``purpose``.

    Raises ValidationError for a purpose name that does not exist (a programming or
    input error, distinct from a refusal).
    """
    if purpose not in PURPOSES:
        raise ValidationError(f"unknown purpose {purpose!r}; expected one of {PURPOSES}")
    if purpose in consent.withdrawn_purposes:
        raise ConsentError(f"consent {consent.id} was withdrawn for purpose {purpose!r}")
    if purpose not in consent.purposes:
        raise ConsentError(f"consent {consent.id} does not cover purpose {purpose!r}")


def require_clip_purpose(session: Session, clip: Clip, purpose: str) -> Consent:
    """Check that ``clip`` may be used for ``purpose`` now; returns its consent.

    For a group-session recording the consent of every family present must cover the
    purpose too (storage/programme/presence.py). Raises NotFound for a clip that is
    destroyed or being destroyed (it no longer exists for any use), ConsentError if a
    consent is missing or does not cover the purpose, ValidationError for an unknown
    purpose.
    """
    own = session.get(Consent, clip.consent_id)
    return check_clip_purpose(clip, own, purpose, present_consents(session, clip.id))


def present_consents(session: Session, clip_id: str) -> list[Consent]:
    """The consents of the families present in a group-session recording (none otherwise)."""
    return present_consents_of(session, [clip_id]).get(clip_id, [])


def present_consents_of(session: Session, clip_ids: Collection[str]) -> dict[str, list[Consent]]:
    """:func:`present_consents` of many clips in one query, by clip id (clips with no
    family present are left out)."""
    query = (
        select(ClipFamily.clip_id, Consent)
        .join(Consent, Consent.id == ClipFamily.consent_id)
        .where(ClipFamily.clip_id.in_(clip_ids))
        .order_by(ClipFamily.clip_id, Consent.id)
    )
    found: dict[str, list[Consent]] = {}
    for clip_id, consent in session.execute(query):
        found.setdefault(clip_id, []).append(consent)
    return found


def check_clip_purpose(
    clip: Clip, consent: Consent | None, purpose: str, present: Sequence[Consent] = ()
) -> Consent:
    """:func:`require_clip_purpose` for a caller that fetched the clip's consent (``None``
    if it has none) and the consents of the families present itself, e.g. in the query
    that loaded the clip; returns the clip's consent.

    Raises as :func:`require_clip_purpose`; a consent other than the clip's, or of
    another site, counts as none on record. A present family's consent that does not cover
    the purpose raises ConsentError without naming the family.
    """
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        raise NotFound(f"clip {clip.id} has been destroyed")
    if consent is None or consent.id != clip.consent_id or consent.site_id != clip.site_id:
        raise ConsentError(f"clip {clip.id} has no consent on record")
    require_purpose(consent, purpose)
    for other in present:
        if other.site_id != clip.site_id or purpose not in other.active_purposes:
            raise ConsentError(
                f"clip {clip.id}: not every family filmed has consented to {purpose!r}"
            )
    return consent

"""Who was filmed: the families present in a group-session recording, and the purposes
the recording may be used for.

A use of a recording (supervision, training events, evaluation) is lawful only while the
consent of **every** family present covers it, so a clip's effective purposes are the
intersection of its own consent's active purposes and each present family's. The purpose
checks (storage/purposes.py) apply the same rule before any footage is used.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Clip, Consent
from storage.db.programme import MAX_FAMILIES, ClipFamily, Family
from storage.errors import ValidationError
from storage.programme.families import family_consent
from storage.purposes import present_consents


def record_present_families(
    session: Session, clip: Clip, family_ids: Sequence[str]
) -> list[ClipFamily]:
    """Record the families present in a group-session ``clip`` with the consent covering each.

    A family's consent is the clip's own consent when it belongs to that family, else the
    family's latest consent. Runs in the caller's unit of work and is audited there (as
    part of ``clip.register``). Families already recorded are kept (idempotent). Raises
    ValidationError for a clip that is not group-session footage, more than MAX_FAMILIES
    families, a family not enrolled in the clip's group, or one without a consent that
    still covers a purpose.
    """
    if clip.session_id is None:
        raise ValidationError("families present are recorded for group-session footage only")
    wanted = list(dict.fromkeys(family_ids))
    if not wanted:
        raise ValidationError("name the families present in the recording")
    if len(wanted) > MAX_FAMILIES:
        raise ValidationError(f"a group has at most {MAX_FAMILIES} families")
    own = session.get(Consent, clip.consent_id)
    rows = {
        row.family_id: row
        for row in session.scalars(select(ClipFamily).where(ClipFamily.clip_id == clip.id))
    }
    added: list[ClipFamily] = []
    for family_id in wanted:
        family = session.get(Family, family_id)
        if family is None or family.site_id != clip.site_id or family.group_id != clip.group_id:
            raise ValidationError("a family present must be enrolled in the clip's group")
        if family_id in rows:
            continue
        consent = own if own is not None and own.family_id == family_id else None
        consent = consent or family_consent(session, family_id)
        if consent is None or not consent.active_purposes:
            raise ValidationError(
                f"family {family.code} has no consent covering any purpose; "
                "record its consent before recording footage of it"
            )
        row = ClipFamily(
            site_id=clip.site_id, clip_id=clip.id, family_id=family_id, consent_id=consent.id
        )
        session.add(row)
        rows[family_id] = row
        added.append(row)
    session.flush()
    return added


def present_families(session: Session, clip_id: str) -> list[tuple[Family, Consent]]:
    """The families present in a recording with the consent covering each, by code."""
    query = (
        select(Family, Consent)
        .join(ClipFamily, ClipFamily.family_id == Family.id)
        .join(Consent, Consent.id == ClipFamily.consent_id)
        .where(ClipFamily.clip_id == clip_id)
        .order_by(Family.code)
    )
    return [(family, consent) for family, consent in session.execute(query)]


def effective_purposes(session: Session, clip: Clip) -> frozenset[str]:
    """The purposes ``clip`` may be used for now: its consent's active purposes, narrowed
    by every present family's. Empty for a clip without a consent on record."""
    own = session.get(Consent, clip.consent_id)
    if own is None:
        return frozenset()
    allowed = set(own.active_purposes)
    for consent in present_consents(session, clip.id):
        allowed &= set(consent.active_purposes)
    return frozenset(allowed)

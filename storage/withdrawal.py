"""Consent withdrawal: stop the withdrawn uses at once, and destroy what no longer has one.

* Withdrawing **every** remaining purpose (or withdrawing purposes so that nothing is
  left that every family filmed consents to) destroys each clip the consent covers at once,
  through the same crypto-shredding path as the retention sweep. A clip under a legal hold
  is not destroyed while held: it becomes due at the withdrawal and the first sweep after
  the hold is lifted destroys it (no use is possible meanwhile: no purpose is left).
* Withdrawing **some** purposes removes those uses (purpose checks refuse them from the
  commit on) and recomputes ``delete_after`` of the covered clips, since purpose margins
  may no longer apply; each change is audited.
* A consent also covers the group-session recordings its family is present in
  (``clip_families``): a use is lawful only while every family present consents to it, so
  one family's withdrawal stops that use of the whole recording at once, and a family
  withdrawing **every** purpose destroys the recording (the other families' footage
  cannot be kept without them). The lawful route to keep it is a legal hold placed by the
  DPO (e.g. a complaint): a held recording is destroyed once the hold is lifted.
* Withdrawing ``supervision`` (or everything) ends every share of the covered clips
  (storage/programme/shares.py), audited ``share.end``.

The consent row keeps what was consented to, what was withdrawn, when and why.
Consent *recording* lives in storage/consent.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from storage.audit import Actor
from storage.db.footage import PURPOSES, Clip
from storage.db.programme import ClipFamily
from storage.db.tenancy import Site
from storage.destruction import Destroyer, request_destruction
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.holds import is_held
from storage.locking import lock_clip, lock_consent
from storage.programme.presence import effective_purposes
from storage.programme.shares import SHARE_PURPOSE, end_shares_for
from storage.retention import recompute_clip

#: Roles that may record a withdrawal (the family tells their facilitator, or the DPO).
WITHDRAW_ROLES = ("facilitator", "dpo", "admin", "system")
MAX_REASON = 1000


@dataclass
class WithdrawalResult:
    consent_id: str
    withdrawn: list[str]
    active_purposes: list[str]
    all_withdrawn: bool
    destroyed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    retention_changed: list[dict[str, Any]] = field(default_factory=list)


def withdraw_consent(
    destroyer: Destroyer,
    retention: Mapping[str, Any],
    actor: Actor,
    *,
    site_id: str,
    consent_id: str,
    purposes: Sequence[str] | None,
    reason: str,
) -> WithdrawalResult:
    """Withdraw ``purposes`` (None = every remaining purpose) of a consent at ``site_id``.

    Raises PermissionDenied for a role that may not withdraw, NotFound for a consent not at
    the site, ValidationError for an empty reason or purposes that are unknown, not
    consented to or already withdrawn (nothing changes then). Destruction failures do not
    raise: the clips stay marked, are listed in ``failed`` and the next sweep finishes them.
    """
    if actor.role not in WITHDRAW_ROLES:
        raise PermissionDenied(f"role {actor.role!r} may not withdraw consent")
    if actor.role != "system" and actor.site_id != site_id:
        raise NotFound("no such consent")
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise ValidationError(f"a withdrawal needs a reason of 1-{MAX_REASON} characters")
    audit = destroyer.audit
    with destroyer.db.session() as session:
        consent = lock_consent(session, consent_id)
        if consent is None or consent.site_id != site_id:
            raise NotFound("no such consent")
        chosen = _chosen(purposes, consent.purposes, consent.active_purposes)
        now = audit.clock.now()
        consent.withdrawn_purposes = [*consent.withdrawn_purposes, *chosen]
        consent.withdrawn_at = now
        line = f"{now:%Y-%m-%d} ({', '.join(chosen)}): {text}"
        consent.withdrawal_reason = (
            f"{consent.withdrawal_reason}\n{line}" if consent.withdrawal_reason else line
        )
        session.flush()
        result = WithdrawalResult(
            consent_id=consent_id,
            withdrawn=chosen,
            active_purposes=consent.active_purposes,
            all_withdrawn=not consent.active_purposes,
        )
        site = session.get(Site, site_id)
        assert site is not None
        doomed: list[str] = []
        present_in = select(ClipFamily.clip_id).where(ClipFamily.consent_id == consent_id)
        clip_ids = list(
            session.scalars(
                select(Clip.id)
                .where(
                    or_(Clip.consent_id == consent_id, Clip.id.in_(present_in)),
                    Clip.status != "destroyed",
                )
                .order_by(Clip.created_at, Clip.id)
            )
        )
        audit.append(
            session,
            actor,
            "consent.withdraw",
            target_type="consent",
            target_id=consent_id,
            site_id=site_id,
            details={"purposes": chosen, "all": result.all_withdrawn, "clips": len(clip_ids)},
        )
        for clip_id in clip_ids:
            clip = lock_clip(session, clip_id)
            assert clip is not None
            before = clip.delete_after
            recompute_clip(session, retention, clip, site.slug)
            if SHARE_PURPOSE in chosen:
                end_shares_for(session, audit, actor, clip_id, "consent-withdrawn")
            # No lawful use left: this consent, or together with the other families filmed.
            unusable = result.all_withdrawn or not effective_purposes(session, clip)
            if unusable and is_held(session, clip_id):
                result.held.append(clip_id)
            elif unusable:
                request_destruction(session, audit, actor, clip, "consent-withdrawn")
                doomed.append(clip_id)
            if clip.delete_after != before and clip.destroy_requested_at is None:
                change = {
                    "clip_id": clip_id,
                    "old": before.isoformat() if before else None,
                    "new": clip.delete_after.isoformat() if clip.delete_after else None,
                }
                result.retention_changed.append(change)
                audit.append(
                    session,
                    actor,
                    "clip.retention_change",
                    target_type="clip",
                    target_id=clip_id,
                    site_id=site_id,
                    details={"old": change["old"], "new": change["new"], "cause": "withdrawal"},
                )
    for clip_id in doomed:
        outcome = destroyer.destroy(clip_id, actor)
        if outcome.destroyed:
            result.destroyed.append(clip_id)
        else:
            result.failed.append({"clip_id": clip_id, "error": outcome.error or ""})
    return result


def _chosen(requested: Sequence[str] | None, given: list[str], active: list[str]) -> list[str]:
    if requested is None:
        if not active:
            raise ValidationError("consent was already withdrawn for every purpose")
        return list(active)
    chosen: list[str] = []
    for purpose in requested:
        if purpose not in PURPOSES:
            raise ValidationError(f"unknown purpose {purpose!r}; expected one of {PURPOSES}")
        if purpose not in given:
            raise ValidationError(f"the consent does not cover purpose {purpose!r}")
        if purpose not in active:
            raise ValidationError(f"purpose {purpose!r} was already withdrawn")
        if purpose not in chosen:
            chosen.append(purpose)
    if not chosen:
        raise ValidationError("name at least one purpose to withdraw")
    return chosen

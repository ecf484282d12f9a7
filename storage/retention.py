"""Retention policy: when each clip must be destroyed.

A policy (``Settings.retention``, from ``[retention]`` in config) gives each footage kind:

* ``from`` — the event(s) retention counts from: ``upload``, ``shared-review``, ``sign-off``,
  ``programme-end`` (a string or a list; with a list the *latest* event counts);
* ``margin_days`` — days kept after that event;
* ``purpose_margin_days`` — optional longer margins that apply only while the consent still
  covers that purpose (e.g. ``training-events = 180``), so withdrawing the purpose shortens it;
* ``max_days`` — a hard cap counted from upload, also bounded by the global
  ``retention.max_days`` ("a hard maximum for everything").

``programme-end`` is the end of the clip's group (its last postnatal session,
storage/programme/groups.py); ``[retention.sites.<slug>]`` may set ``programme_end`` (a date),
used only for clips of the site's "unassigned" group, and override any field of a kind under
``[retention.sites.<slug>.<kind>]``. Until every ``from`` event is known, a clip is
due at its hard cap, so nothing is ever kept open-ended.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from config.retention_policy import EVENTS
from storage.audit import Actor, AuditLog
from storage.db.footage import KINDS, PURPOSES, Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.programme import ClipFamily, Group
from storage.db.tenancy import Site
from storage.errors import ValidationError
from storage.purposes import present_consents

POLICY_ACTION = "retention.policy_change"
POLICY_FIELDS = ("from", "margin_days", "max_days", "purpose_margin_days")
DEFAULT_MAX_DAYS = 730
#: Clips recomputed per batch by :func:`apply_policies` (bounded ``IN`` lists).
RECOMPUTE_BATCH = 500


def effective_policy(retention: Mapping[str, Any], *, site_slug: str, kind: str) -> dict[str, Any]:
    """The policy of ``kind`` at ``site_slug``: kind defaults overlaid with site overrides.

    Raises ValidationError for a kind that has no policy.
    """
    kinds = retention.get("kinds") or {}
    base = kinds.get(kind)
    if not isinstance(base, Mapping):
        raise ValidationError(f"no retention policy for footage kind {kind!r}")
    policy: dict[str, Any] = {k: base[k] for k in POLICY_FIELDS if k in base}
    site = site_policy(retention, site_slug)
    override = site.get(kind)
    if isinstance(override, Mapping):
        for field in POLICY_FIELDS:
            if field in override:
                policy[field] = override[field]
    policy["from"] = _events(policy.get("from", "upload"))
    policy["margin_days"] = int(policy.get("margin_days", 0))
    policy["purpose_margin_days"] = dict(policy.get("purpose_margin_days") or {})
    cap = int(retention.get("max_days", DEFAULT_MAX_DAYS))
    policy["max_days"] = min(int(policy.get("max_days", cap)), cap)
    programme_end = site.get("programme_end")
    policy["programme_end"] = None if programme_end in (None, "") else programme_end
    return policy


def site_policy(retention: Mapping[str, Any], site_slug: str) -> Mapping[str, Any]:
    """The ``[retention.sites.<slug>]`` table, or an empty mapping."""
    sites = retention.get("sites") or {}
    site = sites.get(site_slug) if isinstance(sites, Mapping) else None
    return site if isinstance(site, Mapping) else {}


def programme_end_at(value: Any) -> datetime | None:
    """The instant a programme ends: the end (next UTC midnight) of the configured date.

    Accepts a ``date``, an aware ``datetime`` or an ISO 8601 string; raises ValidationError
    for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError("programme_end: a datetime needs a timezone")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, UTC) + timedelta(days=1)
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"programme_end: expected YYYY-MM-DD, got {value!r}") from None
        return datetime.combine(parsed, time.min, UTC) + timedelta(days=1)
    raise ValidationError(f"programme_end: expected a date, got {value!r}")


def compute_delete_after(
    retention: Mapping[str, Any],
    *,
    site_slug: str,
    kind: str,
    created_at: datetime,
    shared_review_at: datetime | None = None,
    signed_off_at: datetime | None = None,
    purposes: Collection[str] | None = None,
    programme_end: datetime | None = None,
) -> datetime:
    """When a clip of ``kind`` at ``site_slug`` must be destroyed (pure; no I/O).

    ``purposes`` are the consent's *active* purposes; ``None`` means "do not apply purpose
    margins" (the plain kind margin). ``programme_end`` is the end of the clip's group
    (:func:`clip_programme_end`); without it the site's configured ``programme_end`` is
    the fallback. Raises ValidationError for an unknown kind or a naive datetime.
    """
    if created_at.tzinfo is None:
        raise ValidationError("created_at must be timezone-aware")
    policy = effective_policy(retention, site_slug=site_slug, kind=kind)
    cap = created_at + timedelta(days=policy["max_days"])
    known = {
        "upload": created_at,
        "shared-review": shared_review_at,
        "sign-off": signed_off_at,
        "programme-end": programme_end or programme_end_at(policy["programme_end"]),
    }
    moments = [known[event] for event in policy["from"]]
    if any(moment is None for moment in moments):
        return cap  # an event is still pending: only the hard cap is certain
    margin = policy["margin_days"]
    for purpose, days in policy["purpose_margin_days"].items():
        if purposes is not None and purpose in purposes:
            margin = max(margin, int(days))
    latest = max(m for m in moments if m is not None)
    return min(cap, latest + timedelta(days=margin))


def recompute_clip(
    session: Session, settings_retention: Mapping[str, Any], clip: Clip, site_slug: str
) -> None:
    """Set ``clip.delete_after`` from the policy, the clip's events and its consent.

    "programme-end" is the end of the clip's group. The purposes are those every family
    filmed still consents to (a group-session recording lists the families present), so a
    consent withdrawn for every purpose by anyone filmed makes the clip due at the
    withdrawal. Clips that are destroyed or being destroyed are left alone. Does not commit
    (the caller's unit of work does). Raises ValidationError for a kind with no policy.
    """
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        return
    consent = session.get(Consent, clip.consent_id)
    present = present_consents(session, clip.id)
    _recompute(
        settings_retention, clip, site_slug, consent, present, clip_programme_end(session, clip)
    )


def _recompute(
    settings_retention: Mapping[str, Any],
    clip: Clip,
    site_slug: str,
    consent: Consent | None,
    present: Sequence[Consent],
    programme_end: datetime | None,
) -> None:
    """:func:`recompute_clip` once the clip's consent, the consents of the families
    present and its group's programme end are fetched (no I/O)."""
    consents = [consent, *present] if consent is not None else []
    purposes = list(consent.active_purposes) if consent is not None else []
    for other in consents[1:]:
        purposes = [p for p in purposes if p in other.active_purposes]
    due = compute_delete_after(
        settings_retention,
        site_slug=site_slug,
        kind=clip.kind,
        created_at=clip.created_at,
        shared_review_at=clip.shared_review_at,
        signed_off_at=clip.signed_off_at,
        purposes=purposes,
        programme_end=programme_end,
    )
    if not purposes:
        # No purpose left (or no consent at all): nothing justifies keeping it.
        withdrawals = [c.withdrawn_at for c in consents if c.withdrawn_at is not None]
        due = min(due, max(withdrawals) if withdrawals else clip.created_at)
    clip.delete_after = due


def clip_programme_end(session: Session, clip: Clip) -> datetime | None:
    """The end of the programme of the clip's group; None for the unassigned group (or no
    group), where the site's configured ``programme_end`` applies instead."""
    group = session.get(Group, clip.group_id) if clip.group_id else None
    if group is None or group.unassigned:
        return None
    return group.programme_end


def check_vocabulary(retention: Mapping[str, Any]) -> None:
    """Check the policy against the footage kinds and purposes the system knows.

    Raises ValidationError naming the setting: a kind without a policy, or a purpose
    margin for a purpose that does not exist (a typo would silently never apply).
    """
    kinds = retention.get("kinds") or {}
    for kind in KINDS:
        if kind not in kinds:
            raise ValidationError(f"retention.kinds.{kind}: footage kind has no policy")
    tables = [(f"retention.kinds.{k}", v) for k, v in kinds.items()]
    for slug, site in (retention.get("sites") or {}).items():
        tables += [(f"retention.sites.{slug}.{k}", v) for k, v in site.items() if k in kinds]
    for name, table in tables:
        for purpose in table.get("purpose_margin_days") or {}:
            if purpose not in PURPOSES:
                raise ValidationError(
                    f"{name}.purpose_margin_days.{purpose}: unknown purpose; expected {PURPOSES}"
                )


def policy_fingerprint(retention: Mapping[str, Any], site_slug: str) -> tuple[str, dict[str, Any]]:
    """A stable hash of the effective policy of a site, and the policy itself (no names)."""
    kinds = sorted((retention.get("kinds") or {}).keys())
    policy = {kind: effective_policy(retention, site_slug=site_slug, kind=kind) for kind in kinds}
    text = json.dumps(policy, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), json.loads(text)


@dataclass(frozen=True)
class SitePolicyResult:
    """What applying the policy did at one site."""

    site_slug: str
    policy_hash: str
    policy_changed: bool
    clips_changed: int
    audit_seq: int | None


def apply_policies(
    session: Session, audit: AuditLog, retention: Mapping[str, Any], actor: Actor
) -> list[SitePolicyResult]:
    """Recompute ``delete_after`` of every live clip at every site from the current policy.

    When a site's effective policy differs from the one last recorded in the audit log,
    appends ``retention.policy_change`` (old and new policy hash, clips changed). Runs in the
    caller's unit of work. Raises ValidationError for a policy that does not cover the
    known kinds/purposes.
    """
    check_vocabulary(retention)
    results: list[SitePolicyResult] = []
    for site in session.scalars(select(Site).order_by(Site.slug)):
        digest, policy = policy_fingerprint(retention, site.slug)
        last = session.scalar(
            select(AuditEntry)
            .where(AuditEntry.action == POLICY_ACTION, AuditEntry.site_id == site.id)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        )
        previous = last.details.get("policy_hash") if last is not None else None
        live = select(Clip).where(
            Clip.site_id == site.id,
            Clip.status != "destroyed",
            Clip.destroy_requested_at.is_(None),
        )
        clips = list(session.scalars(live.options(load_only(*_CLIP_FIELDS)).order_by(Clip.id)))
        changed = 0
        for start in range(0, len(clips), RECOMPUTE_BATCH):
            changed += _recompute_batch(
                session, retention, clips[start : start + RECOMPUTE_BATCH], site.slug
            )
        seq = None
        if previous != digest:
            entry = audit.append(
                session,
                actor,
                POLICY_ACTION,
                target_type="site",
                target_id=site.id,
                site_id=site.id,
                details={
                    "policy_hash": digest,
                    "previous_hash": previous,
                    "clips_changed": changed,
                    "policy": policy,
                },
            )
            seq = entry.seq
        results.append(SitePolicyResult(site.slug, digest, previous != digest, changed, seq))
    session.flush()
    return results


#: What the sweep's recompute reads: not the JSON it does not need (media, participants).
_CLIP_FIELDS = (
    Clip.site_id, Clip.consent_id, Clip.group_id, Clip.kind, Clip.status, Clip.created_at,
    Clip.shared_review_at, Clip.signed_off_at, Clip.destroy_requested_at, Clip.delete_after,
)  # fmt: skip
_CONSENT_FIELDS = (Consent.purposes, Consent.withdrawn_purposes, Consent.withdrawn_at)


def _recompute_batch(
    session: Session, retention: Mapping[str, Any], clips: Sequence[Clip], site_slug: str
) -> int:
    """Recompute a batch of live clips with three queries (their consents, the consents of
    the families present, their groups) instead of three per clip; returns how many
    clips' ``delete_after`` changed."""
    consent_ids = {c.consent_id for c in clips if c.consent_id}
    consents = {
        c.id: c
        for c in session.scalars(
            select(Consent).options(load_only(*_CONSENT_FIELDS)).where(Consent.id.in_(consent_ids))
        )
    }
    present: dict[str, list[Consent]] = defaultdict(list)
    rows = session.execute(
        select(ClipFamily.clip_id, Consent)
        .join(Consent, ClipFamily.consent_id == Consent.id)
        .where(ClipFamily.clip_id.in_([c.id for c in clips]))
        .order_by(ClipFamily.clip_id, Consent.id)
    )
    for clip_id, consent in rows:
        present[clip_id].append(consent)
    group_ids = {c.group_id for c in clips if c.group_id}
    ends = {
        g.id: (None if g.unassigned else g.programme_end)
        for g in session.scalars(select(Group).where(Group.id.in_(group_ids)))
    }
    changed = 0
    for clip in clips:
        before = clip.delete_after
        own = consents.get(clip.consent_id) if clip.consent_id else None
        end = ends.get(clip.group_id) if clip.group_id else None
        _recompute(retention, clip, site_slug, own, present.get(clip.id, []), end)
        changed += int(clip.delete_after != before)
    return changed


def _events(value: Any) -> list[str]:
    events = [value] if isinstance(value, str) else list(value)
    if not events or any(event not in EVENTS for event in events):
        raise ValidationError(f"retention 'from': expected events from {EVENTS}, got {value!r}")
    return events

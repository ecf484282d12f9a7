"""Retention policy: delete_after computation, site overrides, settings validation, and
audited policy changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config import SettingsError
from storage.clock import FixedClock
from storage.db.footage import Consent
from storage.db.governance import AuditEntry
from storage.errors import ValidationError
from storage.retention import (
    apply_policies,
    check_vocabulary,
    compute_delete_after,
    recompute_clip,
)
from tests.conftest import make_settings
from tests.unit.governance.factory import ADMIN, clip_row, make_clip, make_consent, make_world
from webapp.composition import Services

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _policy(**sites: Any) -> dict[str, Any]:
    return {
        "max_days": 730,
        "kinds": {
            "home-visit": {
                "from": ["shared-review", "programme-end"],
                "margin_days": 30,
                "max_days": 365,
            },
            "group-delivery": {
                "from": ["sign-off"],
                "margin_days": 30,
                "max_days": 365,
                "purpose_margin_days": {"training-events": 180},
            },
            "shared-review": {"from": ["upload"], "margin_days": 10, "max_days": 365},
        },
        "sites": sites,
    }


def test_pending_event_means_the_hard_cap() -> None:
    due = compute_delete_after(_policy(), site_slug="north", kind="home-visit", created_at=T0)
    assert due == T0 + 365 * DAY
    # Shared review done, but the site has no programme end yet: still the cap.
    due = compute_delete_after(
        _policy(), site_slug="north", kind="home-visit", created_at=T0, shared_review_at=T0
    )
    assert due == T0 + 365 * DAY


def test_latest_event_plus_margin() -> None:
    policy = _policy(north={"programme_end": date(2026, 3, 31)})
    review = T0 + 20 * DAY
    due = compute_delete_after(
        policy, site_slug="north", kind="home-visit", created_at=T0, shared_review_at=review
    )
    # The programme ends at the end of 31 March, after the review: that counts.
    assert due == datetime(2026, 4, 1, tzinfo=UTC) + 30 * DAY
    later = datetime(2026, 6, 1, tzinfo=UTC)
    due = compute_delete_after(
        policy, site_slug="north", kind="home-visit", created_at=T0, shared_review_at=later
    )
    assert due == later + 30 * DAY


def test_the_cap_wins_over_a_late_event() -> None:
    late = T0 + 400 * DAY
    due = compute_delete_after(
        _policy(), site_slug="x", kind="group-delivery", created_at=T0, signed_off_at=late
    )
    assert due == T0 + 365 * DAY


def test_purpose_margin_applies_only_while_the_purpose_is_consented() -> None:
    kwargs: dict[str, Any] = {
        "site_slug": "x",
        "kind": "group-delivery",
        "created_at": T0,
        "signed_off_at": T0,
    }
    with_training = compute_delete_after(
        _policy(), purposes=["supervision", "training-events"], **kwargs
    )
    without = compute_delete_after(_policy(), purposes=["supervision"], **kwargs)
    assert with_training == T0 + 180 * DAY
    assert without == T0 + 30 * DAY


def test_site_override_and_global_cap() -> None:
    policy = _policy(south={"shared-review": {"margin_days": 2}})
    assert (
        compute_delete_after(policy, site_slug="south", kind="shared-review", created_at=T0)
        == T0 + 2 * DAY
    )
    assert (
        compute_delete_after(policy, site_slug="north", kind="shared-review", created_at=T0)
        == T0 + 10 * DAY
    )
    policy["max_days"] = 100  # the hard maximum bounds every kind
    assert compute_delete_after(policy, site_slug="x", kind="home-visit", created_at=T0) == (
        T0 + 100 * DAY
    )


def test_unknown_kind_and_naive_time_are_rejected() -> None:
    with pytest.raises(ValidationError, match="training-footage"):
        compute_delete_after(_policy(), site_slug="x", kind="training-footage", created_at=T0)
    with pytest.raises(ValidationError, match="timezone"):
        compute_delete_after(
            _policy(), site_slug="x", kind="home-visit", created_at=datetime(2026, 1, 1)
        )


def test_default_policy_covers_every_kind_and_purpose(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    check_vocabulary(settings.retention)
    bad = dict(settings.retention)
    bad["kinds"] = {k: v for k, v in bad["kinds"].items() if k != "group-delivery"}
    with pytest.raises(ValidationError, match=r"retention\.kinds\.group-delivery"):
        check_vocabulary(bad)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"retention.max_days": 0}, "retention.max_days"),
        ({"retention.max_days": "soon"}, "retention.max_days"),
        (
            {"retention.kinds": {"home-visit": {"from": "birth", "margin_days": 1, "max_days": 9}}},
            "retention.kinds.home-visit.from",
        ),
        (
            {
                "retention.kinds": {
                    "home-visit": {"from": "upload", "margin_days": -1, "max_days": 9}
                }
            },
            "retention.kinds.home-visit.margin_days",
        ),
        (
            {"retention.kinds": {"home-visit": {"from": "upload", "margin_days": 1}}},
            "retention.kinds.home-visit.max_days",
        ),
        (
            {
                "retention.kinds": {
                    "home-visit": {"from": "upload", "margin_days": 1, "max_days": 999}
                }
            },
            "retention.kinds.home-visit.max_days",
        ),
        ({"retention.sites": {"north": {"programme_end": "31/03/2026"}}}, "programme_end"),
        ({"retention.sites": {"north": {"home-vist": {"margin_days": 1}}}}, "north.home-vist"),
        (
            {"retention.sites": {"north": {"home-visit": {"margin_dayz": 1}}}},
            "retention.sites.north.home-visit.margin_dayz",
        ),
    ],
)
def test_invalid_retention_settings_name_the_setting(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        make_settings(tmp_path, **overrides)


def test_retention_file_is_validated(tmp_path: Path) -> None:
    policy = tmp_path / "retention.toml"
    policy.write_text(
        "[retention]\nmax_days = 100\n[retention.kinds.home-visit]\n"
        'from = "upload"\nmargin_days = 5\nmax_days = 50\n'
        "[retention.sites.north]\nprogramme_end = 2026-07-31\n"
    )
    settings = make_settings(tmp_path, **{"retention.file": str(policy)})
    assert settings.retention["sites"]["north"]["programme_end"] == date(2026, 7, 31)
    policy.write_text("[retention]\nmax_days = 100\n")
    with pytest.raises(SettingsError, match=r"retention\.kinds"):
        make_settings(tmp_path, **{"retention.file": str(policy)})


def test_withdrawn_consent_makes_the_clip_due_at_withdrawal(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent_id = make_consent(services, world)
    clip_id = make_clip(services, world, consent_id, review_rows=False)
    withdrawn = clock.now() + 5 * DAY
    with services.db.session() as session:
        consent = session.get(Consent, consent_id)
        assert consent is not None
        consent.withdrawn_purposes = list(consent.purposes)
        consent.withdrawn_at = withdrawn
        clip = clip_row(services, clip_id)
        session.add(clip)
        recompute_clip(session, services.settings.retention, clip, world.site_slug)
        assert clip.delete_after == withdrawn


def test_policy_change_recomputes_and_is_audited_once(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    world = make_world(services)
    clip_id = make_clip(services, world, make_consent(services, world), review_rows=False)
    first = clip_row(services, clip_id).delete_after
    with services.db.session() as session:
        results = apply_policies(session, services.audit, services.settings.retention, ADMIN)
    assert results[0].policy_changed and results[0].clips_changed == 0
    with services.db.session() as session:
        again = apply_policies(session, services.audit, services.settings.retention, ADMIN)
    assert not again[0].policy_changed and again[0].audit_seq is None

    stricter = make_settings(
        tmp_path / "x",
        **{"retention.sites": {world.site_slug: {"home-visit": {"max_days": 90}}}},
    ).retention
    with services.db.session() as session:
        changed = apply_policies(session, services.audit, stricter, ADMIN)
    assert changed[0].policy_changed and changed[0].clips_changed == 1
    assert clip_row(services, clip_id).delete_after == clock.now() + 90 * DAY != first
    with services.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention.policy_change")
        ).all()
        assert len(entries) == 2
        assert entries[1].details["previous_hash"] == entries[0].details["policy_hash"]
        assert entries[1].details["clips_changed"] == 1
        assert entries[1].site_id == world.site_id


def test_batched_sweep_recompute_matches_one_clip_at_a_time(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply_policies reads consents per batch; each clip ends as recompute_clip says."""
    import storage.retention as retention_module
    from storage.db.footage import Clip
    from storage.retention import apply_policies, recompute_clip

    monkeypatch.setattr(retention_module, "RECOMPUTE_BATCH", 2)  # several batches
    world = make_world(services)
    kept = make_consent(services, world, purposes=("family-review", "supervision"))
    short = make_consent(services, world, purposes=("family-review",), form_reference="CF-2")
    gone = make_consent(services, world, form_reference="CF-3")
    with services.db.session() as session:
        row = session.get(Consent, gone)
        assert row is not None
        row.withdrawn_purposes = list(row.purposes)
        row.withdrawn_at = services.clock.now()
    clips = [
        make_clip(services, world, consent, kind=kind, review_rows=False)
        for consent in (kept, short, gone)
        for kind in ("home-visit", "group-delivery")
    ]
    with services.db.session() as session:
        for clip_id in clips:  # stale values, so the sweep has something to change
            session.get_one(Clip, clip_id).delete_after = None
    with services.db.session() as session:
        apply_policies(session, services.audit, services.settings.retention, ADMIN)
    with services.db.session() as session:
        swept = {c: session.get_one(Clip, c).delete_after for c in clips}
    with services.db.session() as session:
        for clip_id in clips:
            clip = session.get_one(Clip, clip_id)
            recompute_clip(session, services.settings.retention, clip, world.site_slug)
            assert clip.delete_after is not None
            assert swept[clip_id] == clip.delete_after
        session.rollback()
    withdrawn = [swept[c] for c in clips[4:]]
    assert withdrawn == [services.clock.now()] * 2  # no purpose left: due at the withdrawal

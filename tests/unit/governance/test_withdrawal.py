"""Consent withdrawal and purpose checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.audit import Actor
from storage.clock import FixedClock
from storage.db.footage import Consent
from storage.db.governance import AuditEntry, Tombstone
from storage.destruction import Destroyer
from storage.errors import ConsentError, NotFound, PermissionDenied, ValidationError
from storage.holds import lift_hold
from storage.purposes import default_purpose, require_clip_purpose, require_purpose
from storage.withdrawal import withdraw_consent
from tests.unit.governance.factory import (
    ADMIN,
    World,
    clip_row,
    hold,
    make_clip,
    make_consent,
    make_world,
    rows_of,
    wrapped_key,
)
from webapp.composition import Services


def _withdraw(svc: Services, world: World, consent: str, purposes: list[str] | None, **kw):  # type: ignore[no-untyped-def]
    return withdraw_consent(
        Destroyer(svc.db, svc.vault, svc.audit),
        svc.settings.retention,
        kw.pop("actor", ADMIN),
        site_id=kw.pop("site_id", world.site_id),
        consent_id=consent,
        purposes=purposes,
        reason=kw.pop("reason", "family asked by phone"),
    )


def test_withdrawing_everything_destroys_the_covered_footage_at_once(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    other = make_consent(services, world)
    clips = [make_clip(services, world, consent) for _ in range(2)]
    unrelated = make_clip(services, world, other, review_rows=False)

    result = _withdraw(services, world, consent, None)

    assert result.all_withdrawn and sorted(result.destroyed) == sorted(clips)
    for clip_id in clips:
        assert services.blobs.keys(f"{world.site_id}/{clip_id}/") == []
        assert wrapped_key(services, clip_id) is None
        assert set(rows_of(services, clip_id).values()) == {0}
        with services.db.session() as session:
            tomb = session.get(Tombstone, clip_id)
            assert tomb is not None and tomb.reason == "consent-withdrawn"
            assert tomb.withdrawn_purposes == ["family-review", "supervision"]
            assert tomb.requested_by == ADMIN.id and tomb.destroyed_at == clock.now()
    assert clip_row(services, unrelated).status == "ready"
    with services.db.session() as session:
        record = session.get(Consent, consent)
        assert record is not None  # the record of consent and withdrawal is kept
        assert record.active_purposes == [] and record.withdrawn_at == clock.now()
        assert record.withdrawal_reason is not None
        assert "family asked by phone" in record.withdrawal_reason
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.withdraw")
        ).one()
        assert entry.details == {
            "purposes": ["family-review", "supervision"],
            "all": True,
            "clips": 2,
        }


def test_partial_withdrawal_stops_the_use_and_recomputes_retention(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world, purposes=("supervision", "training-events"))
    clip_id = make_clip(
        services,
        world,
        consent,
        kind="group-delivery",
        signed_off_at=clock.now(),
        review_rows=False,
    )
    assert clip_row(services, clip_id).delete_after == clock.now() + timedelta(days=180)
    with services.db.session() as session:
        require_clip_purpose(session, clip_row(services, clip_id), "training-events")

    result = _withdraw(services, world, consent, ["training-events"])

    assert not result.all_withdrawn and result.destroyed == []
    assert result.active_purposes == ["supervision"]
    clip = clip_row(services, clip_id)
    assert clip.delete_after == clock.now() + timedelta(days=30)
    assert result.retention_changed[0]["clip_id"] == clip_id
    with services.db.session() as session:
        with pytest.raises(ConsentError, match="withdrawn"):
            require_clip_purpose(session, clip, "training-events")
        assert require_clip_purpose(session, clip, "supervision").id == consent
        change = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "clip.retention_change")
        ).one()
        assert change.target_id == clip_id and change.details["cause"] == "withdrawal"
    assert wrapped_key(services, clip_id) is not None


def test_a_held_clip_is_destroyed_when_its_hold_is_lifted(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)
    hold_id = hold(services, world, clip_id, reason="complaint under investigation")
    result = _withdraw(services, world, consent, None)
    assert result.held == [clip_id] and result.destroyed == []
    assert clip_row(services, clip_id).delete_after == clock.now()
    with services.db.session() as session, pytest.raises(ConsentError):
        require_clip_purpose(session, clip_row(services, clip_id), "family-review")
    destroyer = Destroyer(services.db, services.vault, services.audit)
    clock.advance(timedelta(minutes=5))
    assert destroyer.sweep(services.settings.retention).held == [clip_id]
    with services.db.session() as session:
        lift_hold(session, services.audit, ADMIN, site_id=world.site_id, hold_id=hold_id)
    assert destroyer.sweep(services.settings.retention).destroyed == [clip_id]
    with services.db.session() as session:
        tomb = session.get(Tombstone, clip_id)
        assert tomb is not None and tomb.reason == "retention-expired"


@pytest.mark.parametrize(
    ("purposes", "kw", "error", "match"),
    [
        (["filming"], {}, ValidationError, "unknown purpose"),
        (["evaluation"], {}, ValidationError, "does not cover"),
        ([], {}, ValidationError, "at least one"),
        (["supervision"], {"reason": "  "}, ValidationError, "reason"),
        (["supervision"], {"actor": Actor("u1", "supervisor", None)}, PermissionDenied, "role"),
        (["supervision"], {"site_id": "elsewhere"}, NotFound, "consent"),
    ],
)
def test_bad_withdrawals_change_nothing(
    services: Services,
    purposes: list[str],
    kw: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent, review_rows=False)
    with services.db.session() as session:
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(error, match=match):
        _withdraw(services, world, consent, purposes, **kw)
    with services.db.session() as session:
        record = session.get(Consent, consent)
        assert record is not None and record.withdrawn_purposes == []
        assert record.withdrawn_at is None
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    assert wrapped_key(services, clip_id) is not None


def test_withdrawing_twice_is_refused(services: Services) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    _withdraw(services, world, consent, ["supervision"])
    with pytest.raises(ValidationError, match="already withdrawn"):
        _withdraw(services, world, consent, ["supervision"])
    _withdraw(services, world, consent, None)
    with pytest.raises(ValidationError, match="every purpose"):
        _withdraw(services, world, consent, None)


def test_require_purpose_and_the_default_purpose_of_a_use() -> None:
    consent = Consent(id="c1", purposes=["family-review"], withdrawn_purposes=[])
    require_purpose(consent, "family-review")
    with pytest.raises(ConsentError, match="training-events"):
        require_purpose(consent, "training-events")
    with pytest.raises(ValidationError, match="unknown purpose"):
        require_purpose(consent, "marketing")
    assert default_purpose("home-visit", "facilitator") == "family-review"
    assert default_purpose("home-visit", "supervisor") == "supervision"
    assert default_purpose("group-delivery", "facilitator") == "supervision"
    for role in ("dpo", "admin"):
        with pytest.raises(PermissionDenied):
            default_purpose("home-visit", role)

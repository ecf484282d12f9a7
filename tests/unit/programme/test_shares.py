"""Shares for supervision: fixed maximum period, only to supervisors, only while everyone
filmed consents, idempotent, revocable, audited, ending at expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage.clock import FixedClock
from storage.db.governance import AuditEntry
from storage.db.tenancy import Site
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import (
    MAX_SHARE_DAYS,
    active_share,
    list_shares,
    revoke_share,
    share_clip,
    share_state,
)
from tests.conftest import START
from tests.unit.programme.world import OPERATOR, Programme, build, clip, consent
from webapp.composition import Services


def _share(
    svc: Services,
    prog: Programme,
    clip_id: str,
    *,
    days: int = 30,
    by: str = "supervisor",
    to: str = "south_supervisor",
    reason: str = "national review",
    **kw: Any,
) -> str:
    with svc.db.session() as session:
        return share_clip(
            session,
            svc.audit,
            prog.actor(by) if by != "operator" else OPERATOR,
            clip_id=clip_id,
            supervisor_id=prog.users[to],
            days=days,
            reason=reason,
            **kw,
        ).id


def test_a_share_lasts_its_period_and_no_longer(services: Services, clock: FixedClock) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    share_id = _share(services, prog, clip_id, days=MAX_SHARE_DAYS)
    south = prog.users["south_supervisor"]
    with services.db.session() as session:
        assert active_share(session, clip_id, south, clock.now()) is not None
        end = clock.now() + timedelta(days=MAX_SHARE_DAYS)
        assert active_share(session, clip_id, south, end - timedelta(seconds=1)) is not None
        assert active_share(session, clip_id, south, end) is None
        assert active_share(session, clip_id, prog.users["supervisor"], clock.now()) is None
        [row] = list_shares(session, prog.site_id)
        assert row.id == share_id and share_state(row, end) == "expired"
        assert share_state(row, clock.now()) == "active"


@pytest.mark.parametrize("days", [0, MAX_SHARE_DAYS + 1, -1])
def test_the_period_is_bounded(services: Services, days: int) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    with pytest.raises(ValidationError, match="1-90 days"):
        _share(services, prog, clip_id, days=days)


def test_shares_are_idempotent_and_revocable_with_audit(
    services: Services, clock: FixedClock
) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    first = _share(services, prog, clip_id)
    assert _share(services, prog, clip_id, days=10) == first
    with services.db.session() as session:
        revoke_share(session, services.audit, prog.actor("admin"), first)
        revoke_share(session, services.audit, prog.actor("admin"), first)  # no-op
        assert active_share(session, clip_id, prog.users["south_supervisor"], clock.now()) is None
        actions = [
            (e.action, e.details.get("reason"))
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.in_(("share.create", "share.end")))
            )
        ]
        assert actions == [("share.create", None), ("share.end", "revoked")]
    # a new share after revocation is a new row
    assert _share(services, prog, clip_id) != first


def test_who_may_share_and_with_whom(services: Services) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    with pytest.raises(PermissionDenied):
        _share(services, prog, clip_id, by="hv_a")
    with pytest.raises(PermissionDenied):
        _share(services, prog, clip_id, by="dpo")
    with pytest.raises(NotFound):
        _share(services, prog, clip_id, by="south_supervisor", to="supervisor")
    with pytest.raises(ValidationError, match="not one"):
        _share(services, prog, clip_id, to="south_facilitator")
    with pytest.raises(ValidationError, match="reason"):
        _share(services, prog, clip_id, reason="  ")
    with pytest.raises(ValidationError):  # the operator must name who decided
        _share(services, prog, clip_id, by="operator")
    made = _share(services, prog, clip_id, by="operator", shared_by=prog.users["admin"])
    with services.db.session() as session:
        [row] = list_shares(session, None)
        assert row.id == made and row.shared_by == prog.users["admin"]


def test_a_share_needs_the_consent_to_cover_supervision(services: Services) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A1", ("family-review",))
    clip_id = clip(services, prog, given, family="FAM-A1")
    from storage.errors import ConsentError

    with pytest.raises(ConsentError):
        _share(services, prog, clip_id)


def test_a_group_recording_placed_in_no_session_cannot_be_shared(services: Services) -> None:
    """Without the session nobody knows who was in the room, so whose consent is needed."""
    prog = build(services)
    given = consent(services, prog, "FAM-A1")  # covers supervision
    clip_id = clip(services, prog, given, kind="group-delivery", group="G-A")
    with pytest.raises(ValidationError, match="families present"):
        _share(services, prog, clip_id)
    with services.db.session() as session:
        assert active_share(session, clip_id, prog.users["south_supervisor"], START) is None


def test_only_the_sites_own_and_listed_receiving_sites_supervisors_receive(
    services: Services,
) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    with services.db.session() as session:
        south_slug = session.scalar(
            select(Site.slug).where(Site.id == prog.other_site_id)  # the national team's site
        )
    assert south_slug is not None
    for listed in ((), ("elsewhere",)):
        with pytest.raises(NotFound):
            _share(services, prog, clip_id, receiving_sites=listed)
    assert _share(services, prog, clip_id, receiving_sites=(south_slug,))
    # The site's own supervisor needs no listing.
    assert _share(services, prog, clip_id, to="supervisor", receiving_sites=())
    with services.db.session() as session:
        created = select(AuditEntry).where(AuditEntry.action == "share.create")
        assert len(session.scalars(created).all()) == 2

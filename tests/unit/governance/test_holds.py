"""Legal holds: placing, lifting, listing; each audited; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.audit import Actor
from storage.db.governance import AuditEntry, LegalHold
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.holds import is_held, lift_hold, list_holds, place_hold
from tests.unit.governance.factory import ADMIN, make_clip, make_consent, make_world
from webapp.composition import Services


def test_place_and_lift_are_audited(services: Services) -> None:
    world = make_world(services)
    clip_id = make_clip(services, world, make_consent(services, world), review_rows=False)
    dpo = Actor("dpo-1", "dpo", world.site_id)
    with services.db.session() as session:
        hold = place_hold(
            session,
            services.audit,
            dpo,
            site_id=world.site_id,
            clip_id=clip_id,
            reason="  subject access request 2026-14  ",
        )
        hold_id = hold.id
        assert hold.reason == "subject access request 2026-14" and hold.placed_by == "dpo-1"
    with services.db.session() as session:
        assert is_held(session, clip_id)
        assert [h.id for h in list_holds(session, site_id=world.site_id)] == [hold_id]
        lifted = lift_hold(
            session, services.audit, ADMIN, site_id=world.site_id, hold_id=hold_id, by="J. Bloggs"
        )
        assert lifted.lifted_by == "J. Bloggs" and lifted.lifted_at is not None
    with services.db.session() as session:
        assert not is_held(session, clip_id)
        assert list_holds(session, site_id=world.site_id) == []
        assert len(list_holds(session, site_id=world.site_id, active_only=False)) == 1
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["hold.place", "hold.lift"]))
            .order_by(AuditEntry.seq)
        ).all()
        assert [(e.action, e.actor_id, e.target_id) for e in entries] == [
            ("hold.place", "dpo-1", clip_id),
            ("hold.lift", ADMIN.id, clip_id),
        ]
        assert all(e.details == {"hold_id": hold_id} for e in entries)  # no free text
    with services.db.session() as session, pytest.raises(ValidationError, match="already lifted"):
        lift_hold(session, services.audit, ADMIN, site_id=world.site_id, hold_id=hold_id)


@pytest.mark.parametrize(
    ("actor", "reason", "clip", "error"),
    [
        (Actor("f1", "facilitator", None), "x", None, PermissionDenied),
        (Actor("d2", "dpo", "another-site"), "x", None, NotFound),
        (ADMIN, "   ", None, ValidationError),
        (ADMIN, "x" * 1001, None, ValidationError),
        (ADMIN, "x", "no-such-clip", NotFound),
    ],
)
def test_bad_holds_change_nothing(
    services: Services,
    actor: Actor,
    reason: str,
    clip: str | None,
    error: type[Exception],
) -> None:
    world = make_world(services)
    clip_id = make_clip(services, world, make_consent(services, world), review_rows=False)
    with services.db.session() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(error), services.db.session() as session:
        place_hold(
            session,
            services.audit,
            actor,
            site_id=world.site_id,
            clip_id=clip or clip_id,
            reason=reason,
        )
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(LegalHold)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_a_clip_being_destroyed_cannot_be_held(services: Services) -> None:
    world = make_world(services)
    clip_id = make_clip(services, world, make_consent(services, world), review_rows=False)
    with services.db.session() as session:
        from storage.db.footage import Clip

        clip = session.get(Clip, clip_id)
        assert clip is not None
        clip.destroy_requested_at = services.clock.now()
    with pytest.raises(ValidationError, match="destroyed"), services.db.session() as session:
        place_hold(
            session, services.audit, ADMIN, site_id=world.site_id, clip_id=clip_id, reason="x"
        )

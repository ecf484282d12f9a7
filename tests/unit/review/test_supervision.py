"""Supervision sign-off (locks the review, starts training retention) and shared review done."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from review.annotations import create_annotation, delete_annotation, update_annotation
from review.errors import Locked, PermissionDenied, ValidationError
from review.links import link_annotations
from review.supervision import get_sign_off, is_locked, mark_shared_review_done, sign_off
from review.threads import add_reply, set_resolved
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from tests.unit.review.helpers import World, add_clip


def comment(world: World, start_ms: int = 0) -> str:
    with world.svc.db.session() as session:
        return create_annotation(
            session, world.svc.audit, world.registry, world.trainee, world.group_clip,
            start_ms=start_ms, subject="facilitator", text="my note",
        ).id  # fmt: skip


def clip(world: World, clip_id: str) -> Clip:
    with world.svc.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        return row


def test_sign_off_locks_the_review_and_starts_retention(world: World) -> None:
    note = comment(world)
    other = comment(world, 500)
    before = clip(world, world.group_clip).delete_after
    with world.svc.db.session() as session:
        row = sign_off(
            session, world.svc.audit, world.svc.settings, world.supervisor, world.group_clip,
            summary="Warm, well-paced session; work on including quieter parents.",
        )  # fmt: skip
        assert row.supervisor_id == world.supervisor.id
    signed = clip(world, world.group_clip)
    now = world.svc.clock.now()
    assert signed.signed_off_at == now
    # group-delivery: 30 days after sign-off (default policy), sooner than the 365-day cap.
    assert signed.delete_after == now + timedelta(days=30)
    assert before is None or before != signed.delete_after
    with world.svc.db.session() as session:
        assert is_locked(session, world.trainee, world.group_clip)
        summary = get_sign_off(session, world.trainee, world.group_clip)
        assert summary is not None and summary.summary.startswith("Warm")
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "review.sign_off")
        ).one()
        assert entry.target_id == world.group_clip and "Warm" not in str(entry.details)
    attempts = [
        lambda s: update_annotation(
            s, world.svc.audit, world.registry, world.trainee, note, {"text": "changed"}
        ),
        lambda s: delete_annotation(s, world.svc.audit, world.trainee, note),
        lambda s: add_reply(s, world.svc.audit, world.supervisor, note, "late reply"),
        lambda s: set_resolved(s, world.svc.audit, world.supervisor, note, True),
        lambda s: link_annotations(s, world.svc.audit, world.trainee, note, other),
    ]
    for attempt in attempts:
        with world.svc.db.session() as session, pytest.raises(Locked):
            attempt(session)
    with pytest.raises(Locked):
        comment(world, 1000)
    with world.svc.db.session() as session, pytest.raises(Locked, match="already"):
        sign_off(
            session, world.svc.audit, world.svc.settings, world.supervisor2, world.group_clip,
            summary="again",
        )  # fmt: skip


@pytest.mark.parametrize("who", ["trainee", "facilitator", "dpo"])
def test_only_supervisors_sign_off(world: World, who: str) -> None:
    actor = getattr(world, who)
    with world.svc.db.session() as session, pytest.raises(PermissionDenied):
        sign_off(
            session, world.svc.audit, world.svc.settings, actor, world.group_clip, summary="ok"
        )
    assert clip(world, world.group_clip).signed_off_at is None


def test_sign_off_needs_a_summary_and_a_training_clip(world: World) -> None:
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="summary"):
        sign_off(
            session, world.svc.audit, world.svc.settings, world.supervisor, world.group_clip,
            summary="   ",
        )  # fmt: skip
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="group-delivery"):
        sign_off(
            session, world.svc.audit, world.svc.settings, world.supervisor, world.home_clip,
            summary="fine",
        )  # fmt: skip
    assert clip(world, world.group_clip).signed_off_at is None


def test_shared_review_done_sets_the_retention_event(world: World) -> None:
    retention = copy.deepcopy(dict(world.svc.settings.retention))
    retention["sites"] = {"north": {"programme_end": "2026-03-31"}}
    settings = replace(world.svc.settings, retention=retention)
    with world.svc.db.session() as session:
        due = mark_shared_review_done(
            session, world.svc.audit, settings, world.facilitator, world.home_clip
        )
    row = clip(world, world.home_clip)
    assert row.shared_review_at == world.svc.clock.now()
    # home-visit: latest of shared review (2026-03-02) and programme end (end of 2026-03-31)
    # plus 30 days = 2026-04-01 00:00 + 30 days = 2026-05-01.
    assert row.delete_after is not None and row.delete_after.isoformat() == due
    assert due.startswith("2026-05-01T00:00:00")
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="already"):
        mark_shared_review_done(
            session, world.svc.audit, settings, world.facilitator, world.home_clip
        )
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="home-visit"):
        mark_shared_review_done(
            session, world.svc.audit, settings, world.supervisor, world.group_clip
        )
    with world.svc.db.session() as session, pytest.raises(PermissionDenied):
        mark_shared_review_done(session, world.svc.audit, settings, world.dpo, world.home_clip)


def test_a_supervisor_cannot_sign_off_their_own_practice(world: World) -> None:
    with world.svc.db.session() as session:
        own = add_clip(
            session,
            world.svc,
            world.site_id,
            kind="shared-review",
            uploaded_by=world.supervisor2.id,
            trainee_id=world.supervisor.id,
        ).id
    with world.svc.db.session() as session, pytest.raises(PermissionDenied, match="own"):
        sign_off(session, world.svc.audit, world.svc.settings, world.supervisor, own, summary="ok")
    with world.svc.db.session() as session:
        sign_off(session, world.svc.audit, world.svc.settings, world.supervisor2, own, summary="ok")
    assert clip(world, own).signed_off_at is not None

"""Reflective supervision: recorded with its supervisor, facilitators, clips and moments;
counted against the three required; idempotent; audited without the notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.db.governance import AuditEntry
from storage.db.programme import Group, SupervisionItem
from storage.db.review import Moment
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import (
    list_supervisions,
    record_supervision,
    supervision_count,
    supervision_status,
)
from tests.unit.programme.world import STARTS, Programme, build, clip, consent
from webapp.composition import Services


def _record(
    svc: Services,
    prog: Programme,
    *,
    at: int = 0,
    by: str = "supervisor",
    group: str = "G-A",
    facilitators: tuple[str, ...] = ("hv_a", "cs_a"),
    clips: tuple[str, ...] = (),
    moments: tuple[str, ...] = (),
    notes: str = "<b>went well</b>",
) -> str:
    with svc.db.session() as session:
        return record_supervision(
            session,
            svc.audit,
            prog.actor(by),
            group_id=prog.groups[group],
            held_at=STARTS + timedelta(days=at),
            supervisor_id=prog.users["supervisor"],
            facilitator_ids=[prog.users[f] for f in facilitators],
            clip_ids=list(clips),
            moment_ids=list(moments),
            notes=notes,
        ).id


def test_three_supervisions_are_required_and_counted(services: Services) -> None:
    prog = build(services)
    with services.db.session() as session:
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None and group.programme_end is not None
        early = supervision_status(session, group, STARTS)
        late = supervision_status(session, group, group.programme_end - timedelta(days=7))
        assert (early.held, early.short, early.due) == (0, 3, False)
        assert late.due
    for day in (10, 40, 80):
        _record(services, prog, at=day)
    _record(services, prog, at=80)  # the same session again: not counted twice
    with services.db.session() as session:
        assert supervision_count(session, prog.groups["G-A"]) == 3
        assert supervision_count(session, prog.groups["G-B"]) == 0
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None and group.programme_end is not None
        done = supervision_status(session, group, group.programme_end)
        assert (done.held, done.short, done.due) == (3, 0, False)
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "supervision.record")
        ).all()
        assert len(entries) == 3
        assert all("notes" not in e.details for e in entries)
        notes = [s.notes for s in list_supervisions(session, prog.groups["G-A"])]
        assert notes == ["<b>went well</b>"] * 3  # stored as typed; escaped when shown


def test_clips_and_moments_discussed_are_recorded(services: Services) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    with services.db.session() as session:
        moment = Moment(
            clip_id=clip_id,
            site_id=prog.site_id,
            kind="still",
            start_ms=1000,
            created_by=prog.users["hv_a"],
            created_at=STARTS,
        )
        session.add(moment)
        session.flush()
        moment_id = moment.id
    supervision = _record(services, prog, clips=(clip_id,), moments=(moment_id,))
    with services.db.session() as session:
        items = session.scalars(
            select(SupervisionItem).where(SupervisionItem.supervision_id == supervision)
        ).all()
        assert [(i.clip_id, i.moment_id) for i in items] == [(clip_id, moment_id)]


def test_supervision_refuses_the_wrong_people_and_footage(services: Services) -> None:
    prog = build(services)
    other_clip = clip(services, prog, consent(services, prog, "FAM-B1"), family="FAM-B1", by="hv_b")
    with pytest.raises(PermissionDenied):
        _record(services, prog, by="hv_a")
    with pytest.raises(NotFound):
        _record(services, prog, by="south_supervisor")
    with pytest.raises(NotFound, match="co-facilitator"):
        _record(services, prog, facilitators=("hv_b",))
    with pytest.raises(ValidationError):
        _record(services, prog, facilitators=())
    with pytest.raises(NotFound, match="not footage of the group"):
        _record(services, prog, clips=(other_clip,))
    with pytest.raises(ValidationError, match="limited"):
        _record(services, prog, notes="x" * 10_001)
    with services.db.session() as session:
        assert supervision_count(session, prog.groups["G-A"]) == 0

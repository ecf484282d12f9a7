"""Groups: creation with exactly one co-facilitator per discipline, the default schedule,
editing dates (programme end and clips' retention follow, audited), idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from storage.db.programme import Group, GroupSession
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import (
    FacilitatorsInvalid,
    create_group,
    default_schedule,
    facilitator_group_ids,
    mark_session_held,
    set_session_date,
    unassigned_group,
)
from tests.unit.programme.world import OPERATOR, STARTS, build, clip, consent
from webapp.composition import Services


def _actions(svc: Services, action: str) -> list[AuditEntry]:
    with svc.db.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def test_default_schedule_has_eleven_meetings_ending_at_the_last_postnatal() -> None:
    rows = default_schedule(STARTS)
    kinds = [(kind, number) for kind, number, _ in rows]
    assert kinds == [
        ("home-visit-1", 1),
        *[("antenatal", n) for n in range(1, 7)],
        ("home-visit-2", 1),
        *[("postnatal", n) for n in range(1, 4)],
    ]
    dates = [at for _, _, at in rows]
    assert dates == sorted(dates) and len(set(dates)) == 11
    assert dates[1] - dates[0] == timedelta(days=7)
    assert dates[-1] - dates[0] == timedelta(days=7 * 6 + 35 + 21)


def test_create_group_makes_schedule_facilitators_and_audit(services: Services) -> None:
    prog = build(services)
    with services.db.session() as session:
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None and group.status == "planned"
        meetings = session.scalar(
            select(func.count(GroupSession.id)).where(GroupSession.group_id == group.id)
        )
        assert meetings == 11
        assert group.programme_end == default_schedule(STARTS)[-1][2]
        assert facilitator_group_ids(session, prog.users["cs_a"]) == [group.id]
    created = _actions(services, "group.create")
    assert [e.target_id for e in created] == [prog.groups["G-A"], prog.groups["G-B"]]


def test_create_group_is_idempotent_by_code(services: Services) -> None:
    prog = build(services)
    with services.db.session() as session:
        again = create_group(
            session,
            services.audit,
            OPERATOR,
            site_id=prog.site_id,
            code="g-a",
            name="whatever",
            facilitators=[],
            starts_on=STARTS,
        )
        assert again.id == prog.groups["G-A"]
    assert len(_actions(services, "group.create")) == 2


@pytest.mark.parametrize(
    "pick",
    [
        [("hv_b", "health")],  # one facilitator only
        [("hv_b", "health"), ("cs_b", "health")],  # two of one discipline
        [("hv_b", "health"), ("hv_b", "childrens-services")],  # the same person twice
        [("hv_b", "health"), ("cs_b", "childrens-services"), ("cs_a", "health")],  # three
        [("cs_b", "health"), ("hv_b", "childrens-services")],  # discipline on record differs
        [("hv_b", "health"), ("dpo", "childrens-services")],  # not a practitioner
    ],
)
def test_create_group_needs_exactly_one_practitioner_per_discipline(
    services: Services, pick: list[tuple[str, str]]
) -> None:
    prog = build(services)
    with pytest.raises(FacilitatorsInvalid), services.db.session() as session:
        create_group(
            session,
            services.audit,
            OPERATOR,
            site_id=prog.site_id,
            code="G-C",
            name="C",
            facilitators=[(prog.users[name], d, False) for name, d in pick],
            starts_on=STARTS,
        )
    with services.db.session() as session:
        assert session.scalar(select(Group).where(Group.code == "G-C")) is None


def test_create_group_refuses_roles_other_sites_and_bad_codes(services: Services) -> None:
    prog = build(services)
    pair = [
        (prog.users["hv_b"], "health", False),
        (prog.users["cs_b"], "childrens-services", False),
    ]
    cases: list[tuple[Actor, str, type[Exception]]] = [
        (prog.actor("hv_a"), "G-C", PermissionDenied),
        (prog.actor("south_supervisor"), "G-C", NotFound),
        (OPERATOR, "unassigned", ValidationError),
        (OPERATOR, "G C", ValidationError),
    ]
    for actor, code, error in cases:
        with pytest.raises(error), services.db.session() as session:
            create_group(
                session,
                services.audit,
                actor,
                site_id=prog.site_id,
                code=code,
                name="C",
                facilitators=pair,
                starts_on=STARTS,
            )
    # a facilitator of another site cannot co-facilitate here
    with pytest.raises(NotFound), services.db.session() as session:
        create_group(
            session,
            services.audit,
            OPERATOR,
            site_id=prog.site_id,
            code="G-C",
            name="C",
            facilitators=[pair[0], (prog.users["south_facilitator"], "childrens-services", False)],
            starts_on=STARTS,
        )


def test_moving_the_last_postnatal_date_moves_programme_end_and_clip_retention(
    services: Services,
) -> None:
    prog = build(services)
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    with services.db.session() as session:
        before = session.get(Clip, clip_id)
        assert before is not None and before.group_id == prog.groups["G-A"]
        old_due = before.delete_after
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None
        old_end = group.programme_end
        assert old_end is not None
    later = old_end + timedelta(days=14)
    with services.db.session() as session:
        set_session_date(
            session,
            services.audit,
            OPERATOR,
            prog.groups["G-A"],
            "postnatal",
            3,
            later,
            retention=services.settings.retention,
        )
    with services.db.session() as session:
        group = session.get(Group, prog.groups["G-A"])
        moved = session.get(Clip, clip_id)
        assert group is not None and group.programme_end == later
        assert moved is not None and old_due is not None and moved.delete_after is not None
        # home-visit: from [shared-review, programme-end]; shared review still pending -> cap
        assert moved.delete_after == old_due
    # after the shared review, retention counts from the later of the two: programme end
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        row.shared_review_at = STARTS
    with services.db.session() as session:
        set_session_date(
            session,
            services.audit,
            OPERATOR,
            prog.groups["G-A"],
            "postnatal",
            3,
            old_end,
            retention=services.settings.retention,
        )
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None and row.delete_after == old_end + timedelta(days=30)
    schedule = _actions(services, "group.schedule")
    assert [e.details["new"] for e in schedule] == [later.isoformat(), old_end.isoformat()]
    changes = [e for e in _actions(services, "clip.retention_change") if e.target_id == clip_id]
    assert changes and changes[-1].details["cause"] == "schedule"


def test_setting_the_same_date_changes_nothing(services: Services) -> None:
    prog = build(services)
    with services.db.session() as session:
        meeting = session.scalar(
            select(GroupSession).where(
                GroupSession.group_id == prog.groups["G-A"], GroupSession.kind == "antenatal"
            )
        )
        assert meeting is not None and meeting.scheduled_at is not None
        when = meeting.scheduled_at
        set_session_date(
            session,
            services.audit,
            OPERATOR,
            prog.groups["G-A"],
            "antenatal",
            1,
            when,
            retention=services.settings.retention,
        )
    assert _actions(services, "group.schedule") == []


def test_schedule_edits_are_refused_for_unknown_meetings_and_other_roles(
    services: Services,
) -> None:
    prog = build(services)
    for actor, kind, number, error in (
        (OPERATOR, "antenatal", 7, NotFound),
        (OPERATOR, "party", 1, NotFound),
        (prog.actor("hv_a"), "antenatal", 1, PermissionDenied),
        (prog.actor("south_supervisor"), "antenatal", 1, NotFound),
    ):
        with pytest.raises(error), services.db.session() as session:
            set_session_date(
                session,
                services.audit,
                actor,
                prog.groups["G-A"],
                kind,
                number,
                STARTS,
                retention=services.settings.retention,
            )


def test_marking_meetings_held_moves_status(services: Services) -> None:
    prog = build(services)
    retention = services.settings.retention
    with services.db.session() as session:
        mark_session_held(
            session,
            services.audit,
            prog.actor("cs_a"),
            prog.groups["G-A"],
            "home-visit-1",
            1,
            STARTS,
            retention=retention,
        )
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None and group.status == "running"
    # a facilitator of the other group cannot
    with pytest.raises(NotFound), services.db.session() as session:
        mark_session_held(
            session,
            services.audit,
            prog.actor("hv_b"),
            prog.groups["G-A"],
            "antenatal",
            1,
            STARTS,
            retention=retention,
        )
    end = STARTS + timedelta(days=120)
    with services.db.session() as session:
        mark_session_held(
            session,
            services.audit,
            prog.actor("hv_a"),
            prog.groups["G-A"],
            "postnatal",
            3,
            end,
            retention=retention,
        )
        group = session.get(Group, prog.groups["G-A"])
        assert group is not None and group.status == "ended" and group.programme_end == end


def test_unassigned_group_is_created_once_per_site(services: Services) -> None:
    prog = build(services)
    with services.db.session() as session:
        first = unassigned_group(session, prog.site_id)
        second = unassigned_group(session, prog.site_id)
        other = unassigned_group(session, prog.other_site_id)
        assert first.id == second.id != other.id and first.unassigned
    with pytest.raises(NotFound), services.db.session() as session:
        unassigned_group(session, "no-such-site")

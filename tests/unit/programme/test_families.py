"""Families: enrolment (code rule, at most 8 per group, 9th refused), idempotency, moving
between groups (audited, home-visit clips follow), consents linked to the family."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.programme import MAX_FAMILIES, Family
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import GroupFull, enrol_family, family_consent, move_family
from tests.unit.programme.world import OPERATOR, build, clip, consent
from webapp.composition import Services


def _enrol(svc: Services, prog, group: str, code: str, actor=OPERATOR) -> Family:  # type: ignore[no-untyped-def]
    with svc.db.session() as session:
        family = enrol_family(
            session, svc.audit, actor, site_id=prog.site_id, group_id=prog.groups[group], code=code
        )
        session.expunge(family)
        return family


def test_eight_families_per_group_and_the_ninth_is_refused(services: Services) -> None:
    prog = build(services)  # G-B has one family
    for n in range(2, MAX_FAMILIES + 1):
        _enrol(services, prog, "G-B", f"FAM-B{n}")
    with pytest.raises(GroupFull):
        _enrol(services, prog, "G-B", "FAM-B9")
    with services.db.session() as session:
        count = session.scalar(
            select(func.count(Family.id)).where(Family.group_id == prog.groups["G-B"])
        )
        assert count == MAX_FAMILIES
        assert session.scalar(select(Family).where(Family.code == "FAM-B9")) is None
    # moving a family into the full group is refused too, and nothing moves
    with pytest.raises(GroupFull), services.db.session() as session:
        move_family(
            session,
            services.audit,
            OPERATOR,
            prog.families["FAM-A1"],
            prog.groups["G-B"],
            retention=services.settings.retention,
        )
    with services.db.session() as session:
        family = session.get(Family, prog.families["FAM-A1"])
        assert family is not None and family.group_id == prog.groups["G-A"]


def test_enrolment_is_idempotent_and_codes_follow_the_consent_rule(services: Services) -> None:
    prog = build(services)
    again = _enrol(services, prog, "G-A", "fam-a1")
    assert again.id == prog.families["FAM-A1"]
    with services.db.session() as session:
        entries = session.scalar(
            select(func.count(AuditEntry.seq)).where(AuditEntry.action == "family.enrol")
        )
        assert entries == 4
    for bad in ("Jane Smith", "SMITHS", "F1", "FAM_0001"):
        with pytest.raises(ValidationError):
            _enrol(services, prog, "G-A", bad)
    with pytest.raises(ValidationError, match="move it"):
        _enrol(services, prog, "G-B", "FAM-A1")


def test_enrolment_refuses_roles_other_sites_and_the_unassigned_group(services: Services) -> None:
    prog = build(services)
    with pytest.raises(PermissionDenied):
        _enrol(services, prog, "G-A", "FAM-0099", prog.actor("hv_a"))
    with pytest.raises(NotFound):
        _enrol(services, prog, "G-A", "FAM-0099", prog.actor("south_supervisor"))
    from storage.programme import unassigned_group

    with services.db.session() as session:
        spare = unassigned_group(session, prog.site_id)
        prog.groups["unassigned"] = spare.id
    with pytest.raises(ValidationError):
        _enrol(services, prog, "unassigned", "FAM-0099")


def test_consents_recorded_before_enrolment_become_the_familys(services: Services) -> None:
    prog = build(services)
    early = consent(services, prog, "FAM-0100")
    family = _enrol(services, prog, "G-B", "FAM-0100")
    with services.db.session() as session:
        row = session.get(Consent, early)
        assert row is not None and row.family_id == family.id
        latest = family_consent(session, family.id)
        assert latest is not None and latest.id == early


def test_moving_a_family_moves_its_home_visit_clips_and_is_audited(services: Services) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A1")
    home = clip(services, prog, given, family="FAM-A1")
    with services.db.session() as session:
        move_family(
            session,
            services.audit,
            prog.actor("admin"),
            prog.families["FAM-A1"],
            prog.groups["G-B"],
            retention=services.settings.retention,
        )
        # moving to where it is changes nothing (no second audit entry)
        move_family(
            session,
            services.audit,
            prog.actor("admin"),
            prog.families["FAM-A1"],
            prog.groups["G-B"],
            retention=services.settings.retention,
        )
    with services.db.session() as session:
        moved = session.get(Clip, home)
        assert moved is not None and moved.group_id == prog.groups["G-B"]
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "family.move")
        ).all()
        assert len(entries) == 1
        assert entries[0].details == {
            "from_group": prog.groups["G-A"],
            "to_group": prog.groups["G-B"],
            "clips_moved": 1,
        }
    with pytest.raises(NotFound), services.db.session() as session:
        move_family(
            session,
            services.audit,
            prog.actor("south_supervisor"),
            prog.families["FAM-A1"],
            prog.groups["G-A"],
            retention=services.settings.retention,
        )

"""Training record: blocks 1-3 signed off by a supervisor of the site, or of another site
while a clip of the trainee is shared with them; idempotent; audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db.governance import AuditEntry
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import share_clip, sign_off_block, training_record
from tests.unit.programme.world import OPERATOR, Programme, build, clip, consent
from webapp.composition import Services


def _sign(
    svc: Services,
    prog: Programme,
    *,
    by: str = "supervisor",
    trainee: str = "cs_a",
    block: int = 1,
    supervisor_id: str | None = None,
) -> str:
    with svc.db.session() as session:
        actor = OPERATOR if by == "operator" else prog.actor(by)
        return sign_off_block(
            session,
            svc.audit,
            actor,
            trainee_id=prog.users[trainee],
            block=block,
            summary="reflective review of session 3",
            supervisor_id=supervisor_id,
        ).id


def test_blocks_are_signed_off_once_and_listed_with_the_reviewed_clips(services: Services) -> None:
    prog = build(services)
    for code in ("FAM-A2",):
        consent(services, prog, code)
    reviewed = clip(
        services,
        prog,
        consent(services, prog, "FAM-A1"),
        kind="group-delivery",
        group="G-A",
        meeting="antenatal:1",
        present=["FAM-A2"],
        by="cs_a",
        trainee="cs_a",
        training_block=2,
    )
    first = _sign(services, prog, block=2)
    assert _sign(services, prog, block=2) == first
    with services.db.session() as session:
        record = training_record(session, prog.users["cs_a"])
        assert [b.block for b in record] == [1, 2, 3]
        assert [b.signed_off for b in record] == [False, True, False]
        assert (
            record[1].clip_ids == [reviewed] and record[1].signed_off_by == prog.users["supervisor"]
        )
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "training.signoff")
        ).all()
        assert len(entries) == 1 and entries[0].details["block"] == 2


def test_sign_off_refusals(services: Services) -> None:
    prog = build(services)
    with pytest.raises(PermissionDenied):
        _sign(services, prog, by="hv_a")
    with pytest.raises(ValidationError, match="block"):
        _sign(services, prog, block=4)
    with pytest.raises(ValidationError, match="not a trainee"):
        _sign(services, prog, trainee="hv_b")
    with pytest.raises(NotFound):  # another site, nothing of the trainee shared
        _sign(services, prog, by="south_supervisor")
    with pytest.raises(NotFound):  # the operator must name an active supervisor
        _sign(services, prog, by="operator")
    with pytest.raises(PermissionDenied):
        _sign(services, prog, by="operator", supervisor_id=prog.users["hv_a"])


def test_a_national_team_supervisor_signs_off_through_a_share(services: Services) -> None:
    prog = build(services)
    consent(services, prog, "FAM-A2")
    reviewed = clip(
        services,
        prog,
        consent(services, prog, "FAM-A1"),
        kind="group-delivery",
        group="G-A",
        meeting="antenatal:1",
        present=["FAM-A2"],
        by="cs_a",
        trainee="cs_a",
        training_block=3,
    )
    with services.db.session() as session:
        share_clip(
            session,
            services.audit,
            prog.actor("supervisor"),
            clip_id=reviewed,
            supervisor_id=prog.users["south_supervisor"],
            days=14,
            reason="final half day",
        )
    _sign(services, prog, by="south_supervisor", block=3)
    with services.db.session() as session:
        assert training_record(session, prog.users["cs_a"])[2].signed_off

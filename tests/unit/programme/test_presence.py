"""Consent of everyone filmed: a use of a group-session recording needs every present
family's consent; one family's withdrawal stops that use at once (and ends shares);
withdrawing everything destroys the recording unless it is held."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from ingest.clips import export_rendition
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from storage.db.programme import ClipShare
from storage.destruction import Destroyer
from storage.errors import ConsentError
from storage.holds import place_hold
from storage.programme import effective_purposes, share_clip
from storage.purposes import require_clip_purpose
from storage.withdrawal import withdraw_consent
from tests.unit.programme.world import OPERATOR, Programme, build, clip, consent
from webapp.composition import Services

ALL = ("family-review", "supervision", "training-events", "evaluation")


def _session_clip(
    svc: Services, prog: Programme, a2: tuple[str, ...] = ALL
) -> tuple[str, dict[str, str]]:
    """A group-session clip of G-A with FAM-A1 (uploader's consent), FAM-A2 and FAM-A3."""
    consents = {
        "FAM-A2": consent(svc, prog, "FAM-A2", a2),
        "FAM-A3": consent(svc, prog, "FAM-A3", ALL),
    }
    consents["FAM-A1"] = consent(svc, prog, "FAM-A1", ALL)
    clip_id = clip(
        svc,
        prog,
        consents["FAM-A1"],
        kind="group-delivery",
        group="G-A",
        meeting="antenatal:3",
        present=["FAM-A2", "FAM-A3"],
        by="cs_a",
        trainee="cs_a",
    )
    with svc.db.session() as session:
        svc.vault.put_bytes(session, prog.site_id, clip_id, "playback", b"frames" * 100)
    return clip_id, consents


def _check(svc: Services, clip_id: str, purpose: str) -> None:
    with svc.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        require_clip_purpose(session, row, purpose)


def test_effective_purposes_are_what_every_family_present_consented_to(services: Services) -> None:
    prog = build(services)
    clip_id, _ = _session_clip(services, prog, a2=("family-review", "supervision"))
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        assert effective_purposes(session, row) == {"family-review", "supervision"}
    _check(services, clip_id, "supervision")
    with pytest.raises(ConsentError, match="not every family filmed"):
        _check(services, clip_id, "training-events")


def test_one_non_consenting_family_blocks_export_for_training_events(services: Services) -> None:
    prog = build(services)
    clip_id, _ = _session_clip(services, prog, a2=("family-review", "supervision"))
    out = io.BytesIO()
    with pytest.raises(ConsentError), services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        export_rendition(
            session,
            services.vault,
            services.audit,
            OPERATOR,
            row,
            "playback",
            out.write,
            purpose="training-events",
        )
    assert out.getvalue() == b""
    with services.db.session() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "clip.export")).all()
            == []
        )
        row = session.get(Clip, clip_id)
        assert row is not None
        # the same recording is exportable for a purpose every family consented to
        written = export_rendition(
            session,
            services.vault,
            services.audit,
            OPERATOR,
            row,
            "playback",
            out.write,
            purpose="supervision",
        )
    assert written == 600


def test_one_non_consenting_family_blocks_a_share_for_supervision(services: Services) -> None:
    prog = build(services)
    clip_id, _ = _session_clip(services, prog, a2=("family-review", "evaluation"))
    with pytest.raises(ConsentError), services.db.session() as session:
        share_clip(
            session,
            services.audit,
            prog.actor("supervisor"),
            clip_id=clip_id,
            supervisor_id=prog.users["south_supervisor"],
            days=30,
            reason="national review",
        )
    with services.db.session() as session:
        assert session.scalars(select(ClipShare)).all() == []


def test_a_present_familys_withdrawal_stops_the_use_at_once_and_ends_shares(
    services: Services,
) -> None:
    prog = build(services)
    clip_id, consents = _session_clip(services, prog)
    with services.db.session() as session:
        share = share_clip(
            session,
            services.audit,
            prog.actor("supervisor"),
            clip_id=clip_id,
            supervisor_id=prog.users["south_supervisor"],
            days=30,
            reason="national review",
        )
        share_id = share.id
    _check(services, clip_id, "supervision")
    destroyer = Destroyer(services.db, services.vault, services.audit)
    result = withdraw_consent(
        destroyer,
        services.settings.retention,
        prog.actor("hv_a"),
        site_id=prog.site_id,
        consent_id=consents["FAM-A3"],
        purposes=["supervision"],
        reason="parent asked",
    )
    assert result.destroyed == [] and not result.all_withdrawn
    with pytest.raises(ConsentError):
        _check(services, clip_id, "supervision")
    _check(services, clip_id, "training-events")  # other uses everyone consented to remain
    with services.db.session() as session:
        ended = session.get(ClipShare, share_id)
        assert ended is not None and ended.ended_reason == "consent-withdrawn"
        assert ended.revoked_at is not None
        row = session.get(Clip, clip_id)
        assert row is not None and row.status == "ready"


def test_a_present_family_withdrawing_everything_destroys_the_recording(
    services: Services,
) -> None:
    prog = build(services)
    clip_id, consents = _session_clip(services, prog)
    other = clip(services, prog, consents["FAM-A1"], family="FAM-A1")  # FAM-A1's home visit
    destroyer = Destroyer(services.db, services.vault, services.audit)
    result = withdraw_consent(
        destroyer,
        services.settings.retention,
        prog.actor("hv_a"),
        site_id=prog.site_id,
        consent_id=consents["FAM-A2"],
        purposes=None,
        reason="parent asked",
    )
    assert result.destroyed == [clip_id]
    with services.db.session() as session:
        gone = session.get(Clip, clip_id)
        kept = session.get(Clip, other)
        assert gone is not None and gone.status == "destroyed"
        assert gone.destroy_reason == "consent-withdrawn"
        assert kept is not None and kept.status == "ready"


def test_a_held_recording_survives_a_full_withdrawal_but_no_use_is_left(
    services: Services,
) -> None:
    prog = build(services)
    clip_id, consents = _session_clip(services, prog)
    with services.db.session() as session:
        place_hold(
            session,
            services.audit,
            OPERATOR,
            site_id=prog.site_id,
            clip_id=clip_id,
            reason="complaint 2026/7",
            by="DPO",
        )
    destroyer = Destroyer(services.db, services.vault, services.audit)
    result = withdraw_consent(
        destroyer,
        services.settings.retention,
        prog.actor("hv_a"),
        site_id=prog.site_id,
        consent_id=consents["FAM-A2"],
        purposes=None,
        reason="parent asked",
    )
    assert result.held == [clip_id] and result.destroyed == []
    for purpose in ALL:
        with pytest.raises(ConsentError):
            _check(services, clip_id, purpose)


def test_partial_withdrawals_leaving_nothing_everyone_shares_destroy_the_recording(
    services: Services,
) -> None:
    prog = build(services)
    clip_id, consents = _session_clip(services, prog, a2=("family-review",))
    destroyer = Destroyer(services.db, services.vault, services.audit)
    result = withdraw_consent(
        destroyer,
        services.settings.retention,
        prog.actor("hv_a"),
        site_id=prog.site_id,
        consent_id=consents["FAM-A3"],
        purposes=["family-review"],
        reason="parent asked",
    )
    assert result.destroyed == [clip_id]

"""Where a clip goes: group + family (home visit), group session + families present, the
consent's family, and the "unassigned" group for calls that name nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.programme import ClipFamily, Group
from storage.errors import NotFound, ValidationError
from storage.programme import parse_meeting, present_families
from tests.unit.programme.world import build, clip, consent
from webapp.composition import Services


def test_a_home_visit_clip_belongs_to_the_family_and_its_group(services: Services) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A2")
    clip_id = clip(services, prog, given, group="G-A", family="FAM-A2")
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        assert (row.group_id, row.family_id, row.session_id) == (
            prog.groups["G-A"],
            prog.families["FAM-A2"],
            None,
        )
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "clip.register"))
        assert entry is not None and entry.details["family_id"] == prog.families["FAM-A2"]


def test_without_a_placement_the_enrolled_family_or_unassigned_group_is_used(
    services: Services,
) -> None:
    prog = build(services)
    enrolled = clip(services, prog, consent(services, prog, "FAM-B1"), by="hv_b")
    stranger = clip(services, prog, consent(services, prog, "FAM-0777"))
    with services.db.session() as session:
        first = session.get(Clip, enrolled)
        second = session.get(Clip, stranger)
        assert first is not None and second is not None
        assert first.group_id == prog.groups["G-B"] and first.family_id == prog.families["FAM-B1"]
        spare = session.get(Group, second.group_id)
        assert spare is not None and spare.unassigned and spare.site_id == prog.site_id
        assert second.family_id is None


def test_a_group_session_lists_the_families_present_consent_family_first(
    services: Services,
) -> None:
    prog = build(services)
    for code in ("FAM-A2", "FAM-A3"):
        consent(services, prog, code)
    given = consent(services, prog, "FAM-A1")
    clip_id = clip(
        services,
        prog,
        given,
        kind="group-delivery",
        group="G-A",
        meeting="antenatal:2",
        present=["FAM-A3", "FAM-A2"],
    )
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None and row.session_id is not None and row.family_id is None
        present = present_families(session, clip_id)
        assert [f.code for f, _ in present] == ["FAM-A1", "FAM-A2", "FAM-A3"]
        own = next(c for f, c in present if f.code == "FAM-A1")
        assert own.id == given == row.consent_id


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"group": "G-A", "family": "FAM-A2"}, ValidationError, "consent is for family"),
        ({"group": "G-B", "family": "FAM-A1"}, ValidationError, "not enrolled"),
        (
            {"family": "FAM-A1", "meeting": "antenatal:1", "group": "G-A"},
            ValidationError,
            "not both",
        ),
        ({"meeting": "antenatal:1"}, ValidationError, "needs its group"),
        ({"group": "G-A", "meeting": "antenatal:7"}, ValidationError, "antenatal:1-6"),
        ({"group": "G-A", "meeting": "home-visit-2:1"}, ValidationError, "home visits"),
        ({"group": "G-B", "meeting": "postnatal:1"}, ValidationError, "must be enrolled"),
        (
            {"group": "G-A", "meeting": "antenatal:1", "present": ["FAM-B1"]},
            ValidationError,
            "enrolled",
        ),
        ({"group": "G-A", "present": ["FAM-A2"]}, ValidationError, "group session only"),
        ({"group": "G-Z"}, NotFound, "G-Z"),
        ({"group": "G-A", "family": "FAM-9999"}, NotFound, "FAM-9999"),
    ],
)
def test_placements_that_break_the_rules_store_nothing(
    services: Services, kwargs: dict, error: type[Exception], message: str
) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A1")
    kind = "group-delivery" if "meeting" in kwargs else "home-visit"
    with pytest.raises(error, match=message):
        clip(services, prog, given, kind=kind, **kwargs)
    with services.db.session() as session:
        assert session.scalars(select(Clip)).all() == []
        assert session.scalars(select(ClipFamily)).all() == []


def test_a_present_family_without_a_consent_is_refused(services: Services) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A1")  # FAM-A2 has no consent on record
    with pytest.raises(ValidationError, match="FAM-A2"):
        clip(
            services,
            prog,
            given,
            kind="group-delivery",
            group="G-A",
            meeting="antenatal:1",
            present=["FAM-A2"],
        )
    with services.db.session() as session:
        assert session.scalars(select(Clip)).all() == []
        assert session.get(Consent, given) is not None


def test_kind_and_placement_must_agree(services: Services) -> None:
    prog = build(services)
    given = consent(services, prog, "FAM-A1")
    with pytest.raises(ValidationError, match="home-visit footage"):
        clip(services, prog, given, kind="home-visit", group="G-A", meeting="antenatal:1")
    with pytest.raises(ValidationError, match="group session, not a family"):
        clip(services, prog, given, kind="group-delivery", family="FAM-A1")


def test_parse_meeting() -> None:
    assert parse_meeting("Antenatal:6") == ("antenatal", 6)
    assert parse_meeting("postnatal:3") == ("postnatal", 3)
    for bad in ("antenatal", "postnatal:4", "antenatal:0", ":1", "antenatal:x", ""):
        with pytest.raises(ValidationError):
            parse_meeting(bad)


def test_tus_metadata_places_the_clip_and_old_clients_still_work(services: Services) -> None:
    import json

    from ingest.tus import create_upload
    from tests.unit.ingest.reception_helpers import consent_data

    prog = build(services)
    consent(services, prog, "FAM-A2")
    session_upload = create_upload(
        services,
        prog.actor("cs_a"),
        length="1000",
        metadata={
            "kind": "group-delivery",
            "consent": json.dumps(consent_data(family="FAM-A1")),
            "group": "G-A",
            "session": "postnatal:1",
            "present": "FAM-A2, ",
        },
    )
    old_client = create_upload(
        services,
        prog.actor("hv_b"),
        length="1000",
        metadata={"kind": "home-visit", "consent": json.dumps(consent_data(family="FAM-0900"))},
    )
    with pytest.raises(ValidationError, match="enrolled"):
        create_upload(
            services,
            prog.actor("cs_a"),
            length="1000",
            metadata={
                "kind": "group-delivery",
                "consent": json.dumps(consent_data(family="FAM-B1")),
                "group": "G-A",
                "session": "postnatal:1",
            },
        )
    with services.db.session() as session:
        placed = session.get(Clip, session_upload.clip_id)
        legacy = session.get(Clip, old_client.clip_id)
        assert placed is not None and legacy is not None
        assert placed.group_id == prog.groups["G-A"] and placed.session_id is not None
        assert [f.code for f, _ in present_families(session, placed.id)] == ["FAM-A1", "FAM-A2"]
        spare = session.get(Group, legacy.group_id)
        assert spare is not None and spare.unassigned
        assert len(session.scalars(select(Clip)).all()) == 2


def test_a_lone_family_code_not_enrolled_names_no_placement(services: Services) -> None:
    from storage.programme import Placement, placement_from_codes

    prog = build(services)
    with services.db.session() as session:
        assert placement_from_codes(session, prog.site_id, family="fam-0042") == Placement()
        enrolled = placement_from_codes(session, prog.site_id, family="fam-a1")
        assert enrolled == Placement(family_id=prog.families["FAM-A1"])

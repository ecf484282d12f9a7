"""The review follows the case team: both co-facilitators of a group read and write the
review of its clips; a facilitator of another group gets exactly what a missing id gets."""

from __future__ import annotations

import pytest

from review.access import load_clip
from review.annotations import create_annotation, list_annotations
from review.errors import NotFound
from review.taxonomy import load_registry
from storage.db.footage import Clip
from tests.unit.programme.world import Programme, build, clip, consent
from webapp.composition import Services


@pytest.fixture
def prog(services: Services) -> Programme:
    return build(services)


def home_visit(services: Services, prog: Programme) -> str:
    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), by="hv_a", family="FAM-A1")
    with services.db.session() as session:
        row = session.get(Clip, clip_id)
        assert row is not None
        row.duration_ms = 60_000
    return clip_id


def test_both_co_facilitators_review_the_same_family_clip(
    services: Services, prog: Programme
) -> None:
    clip_id = home_visit(services, prog)
    registry = load_registry(services.settings.taxonomy_dir)
    with services.db.session() as session:
        # cs_a did not upload it: they co-facilitate the group.
        note = create_annotation(
            session,
            services.audit,
            registry,
            prog.actor("cs_a"),
            clip_id,
            start_ms=1000,
            subject="infant",
            text="reaching toward the parent",
        )
        note_id = note.id
    with services.db.session() as session:
        seen = [a.id for a in list_annotations(session, prog.actor("hv_a"), clip_id)]
    assert note_id in seen


@pytest.mark.parametrize("outsider", ["hv_b", "cs_b", "south_facilitator"])
def test_a_facilitator_of_another_group_or_site_gets_not_found(
    services: Services, prog: Programme, outsider: str
) -> None:
    clip_id = home_visit(services, prog)
    with services.db.session() as session:
        with pytest.raises(NotFound):
            load_clip(session, prog.actor(outsider), clip_id)
        with pytest.raises(NotFound):
            load_clip(session, prog.actor(outsider), "no-such-clip")

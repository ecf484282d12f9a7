"""Annotations: validation, history, visibility and tenancy, audit (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from review.annotations import (
    annotation_history,
    as_dict,
    create_annotation,
    delete_annotation,
    get_annotation,
    list_annotations,
    update_annotation,
)
from review.errors import Conflict, NotFound, PermissionDenied, ValidationError
from review.taxonomy import builtin_dir, load_registry
from review.timeline import parse_frame_rate
from storage.audit import Actor
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.review import Annotation
from storage.errors import ConsentError
from tests.unit.review.helpers import World, add_clip, audit_actions


def create(world: World, actor: Actor, clip_id: str | None = None, **fields: Any) -> str:
    values: dict[str, Any] = {
        "start_ms": 1000,
        "end_ms": 3000,
        "subject": "infant",
        "scheme_id": "infant-cues",
        "codes": ["smiling", "mutual-gaze"],
        "text": "lovely eye contact",
    }
    values.update(fields)
    with world.svc.db.session() as session:
        row = create_annotation(
            session, world.svc.audit, world.registry, actor, clip_id or world.home_clip, **values
        )
        return row.id


def count_annotations(world: World) -> int:
    with world.svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Annotation)) or 0)


def test_create_records_scheme_version_author_and_audit(world: World) -> None:
    annotation_id = create(world, world.facilitator)
    with world.svc.db.session() as session:
        row = get_annotation(session, world.facilitator, annotation_id)
        assert (row.scheme_id, row.scheme_version) == ("infant-cues", "1")
        assert row.codes == ["smiling", "mutual-gaze"] and row.revision == 1
        assert (row.author_id, row.author_role) == (world.facilitator.id, "facilitator")
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "annotation.create")
        ).one()
        assert entry.target_id == annotation_id and entry.site_id == world.site_id
        assert "lovely" not in str(entry.details)  # ids only, never the text


def test_a_point_and_frame_numbers(world: World) -> None:
    annotation_id = create(world, world.facilitator, start_ms=1040, end_ms=None)
    with world.svc.db.session() as session:
        row = get_annotation(session, world.facilitator, annotation_id)
        scheme = world.registry.get("infant-cues")
        data = as_dict(row, scheme, parse_frame_rate("25/1"))
    assert data["end_ms"] is None and data["start_frame"] == 26 and data["end_frame"] is None
    assert data["codes"][0] == {
        "id": "smiling",
        "label": "Smiling",
        "colour": "#009E73",
        "retired": False,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_ms": -1}, "start_ms"),
        ({"start_ms": 60_000, "end_ms": None}, "start_ms"),
        ({"start_ms": 1.5}, "start_ms"),
        ({"start_ms": True}, "start_ms"),
        ({"end_ms": 1000}, "end_ms"),
        ({"end_ms": 500}, "end_ms"),
        ({"end_ms": 60_001}, "end_ms"),
        ({"subject": "dog"}, "subject"),
        ({"visibility": "public"}, "visibility"),
        ({"codes": ["smiling", "flying"]}, "'flying' is not a code"),
        ({"codes": "smiling"}, "list of code ids"),
        ({"scheme_id": "nope"}, "unknown coding scheme"),
        ({"scheme_id": None}, "need a scheme_id"),
        ({"scheme_id": "group-facilitation", "codes": ["co-facilitation"]}, "not used for"),
        ({"subject": "parent"}, "not used for parent"),
        ({"codes": [], "text": "   "}, "at least one code, some text"),
        ({"text": "bad\x00text"}, "control characters"),
        ({"text": "x" * 10_001}, "too long"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    world: World, fields: dict[str, Any], message: str
) -> None:
    before = audit_actions(world.svc)
    with pytest.raises(ValidationError, match=message):
        create(world, world.facilitator, **fields)
    assert count_annotations(world) == 0
    assert audit_actions(world.svc) == before


def test_clips_that_are_not_ready_cannot_be_annotated(world: World) -> None:
    with world.svc.db.session() as session:
        clip = add_clip(
            session,
            world.svc,
            world.site_id,
            kind="home-visit",
            uploaded_by=world.facilitator.id,
            status="processing",
            duration_ms=None,
        )
        clip_id = clip.id
    with pytest.raises(ValidationError, match="not ready"):
        create(world, world.facilitator, clip_id)


def test_edit_keeps_history_bumps_revision_and_is_audited(world: World) -> None:
    annotation_id = create(world, world.facilitator)
    world.svc.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    with world.svc.db.session() as session:
        row = update_annotation(
            session,
            world.svc.audit,
            world.registry,
            world.facilitator,
            annotation_id,
            {"text": "turns toward mum's voice", "codes": ["turning-toward-voice"]},
            expected_revision=1,
        )
        assert row.revision == 2 and row.codes == ["turning-toward-voice"]
        assert row.updated_at > row.created_at
    with world.svc.db.session() as session:
        (old,) = annotation_history(session, world.facilitator, annotation_id)
        assert old.snapshot["text"] == "lovely eye contact"
        assert old.snapshot["codes"] == ["smiling", "mutual-gaze"] and old.snapshot["revision"] == 1
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "annotation.update")
        ).one()
        assert set(entry.details["fields"]) == {"codes", "text"}


def test_stale_revision_conflicts_and_unknown_fields_are_refused(world: World) -> None:
    annotation_id = create(world, world.facilitator)
    with world.svc.db.session() as session, pytest.raises(Conflict):
        update_annotation(
            session, world.svc.audit, world.registry, world.facilitator, annotation_id,
            {"text": "x"}, expected_revision=7,
        )  # fmt: skip
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="author_id"):
        update_annotation(
            session, world.svc.audit, world.registry, world.facilitator, annotation_id,
            {"author_id": world.supervisor.id},
        )  # fmt: skip
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="end_ms"):
        update_annotation(
            session, world.svc.audit, world.registry, world.facilitator, annotation_id,
            {"end_ms": 10},
        )  # fmt: skip
    with world.svc.db.session() as session:
        row = get_annotation(session, world.facilitator, annotation_id)
        assert row.revision == 1 and row.end_ms == 3000


def test_only_the_author_edits_or_deletes(world: World) -> None:
    annotation_id = create(world, world.facilitator)
    for attempt in (
        lambda s: update_annotation(
            s, world.svc.audit, world.registry, world.supervisor, annotation_id, {"text": "mine"}
        ),
        lambda s: delete_annotation(s, world.svc.audit, world.supervisor, annotation_id),
    ):
        with world.svc.db.session() as session, pytest.raises(PermissionDenied):
            attempt(session)


def test_delete_hides_the_annotation(world: World) -> None:
    annotation_id = create(world, world.facilitator)
    with world.svc.db.session() as session:
        delete_annotation(session, world.svc.audit, world.facilitator, annotation_id)
    with world.svc.db.session() as session:
        assert list_annotations(session, world.facilitator, world.home_clip) == []
        with pytest.raises(NotFound):
            get_annotation(session, world.facilitator, annotation_id)
    assert "annotation.delete" in audit_actions(world.svc)


def test_retired_codes_stay_on_old_annotations_but_cannot_be_added(
    world: World, tmp_path: Path
) -> None:
    annotation_id = create(world, world.facilitator)
    text = (builtin_dir() / "infant-cues.toml").read_text(encoding="utf-8")
    text = text.replace('version = "1"', 'version = "2"').replace(
        'id = "smiling"\nlabel = "Smiling"', 'id = "smiling"\nlabel = "Smiling"\nretired = true'
    )
    (tmp_path / "sites" / "north").mkdir(parents=True)
    (tmp_path / "sites" / "north" / "infant-cues.toml").write_text(text, encoding="utf-8")
    registry = load_registry(tmp_path)
    with world.svc.db.session() as session:
        row = update_annotation(
            session, world.svc.audit, registry, world.facilitator, annotation_id,
            {"text": "still smiling"},
        )  # fmt: skip
        assert row.scheme_version == "1"  # codes untouched: still coded under version 1
        row = update_annotation(
            session, world.svc.audit, registry, world.facilitator, annotation_id,
            {"codes": ["smiling", "yawning"]},
        )  # fmt: skip
        assert row.scheme_version == "2"  # re-coded under the current version
    with pytest.raises(ValidationError, match="retired"), world.svc.db.session() as session:
        create_annotation(
            session, world.svc.audit, registry, world.facilitator, world.home_clip,
            start_ms=0, subject="infant", scheme_id="infant-cues", codes=["smiling"],
        )  # fmt: skip


def test_drafts_are_private_and_shared_annotations_reach_the_trainee(world: World) -> None:
    draft = create(world, world.supervisor, world.group_clip, visibility="draft")
    shared = create(world, world.supervisor, world.group_clip, text="good pacing", codes=[])
    with world.svc.db.session() as session:
        assert {a.id for a in list_annotations(session, world.supervisor, world.group_clip)} == {
            draft,
            shared,
        }
        seen = list_annotations(session, world.trainee, world.group_clip)
        assert [a.id for a in seen] == [shared]
        with pytest.raises(NotFound):
            get_annotation(session, world.trainee, draft)
        with pytest.raises(NotFound):
            get_annotation(session, world.supervisor2, draft)


def test_who_may_review_which_clip(world: World) -> None:
    with world.svc.db.session() as session:
        # A facilitator reviews only footage they uploaded or in which they are filmed;
        # anyone else's clip answers like a missing one (no id can be confirmed).
        with pytest.raises(NotFound):
            list_annotations(session, world.colleague, world.home_clip)
        with pytest.raises(NotFound):
            list_annotations(session, world.facilitator, world.group_clip)
        # DPOs see metadata, never what the footage shows.
        with pytest.raises(PermissionDenied):
            list_annotations(session, world.dpo, world.home_clip)
        # Another site's clip does not exist for this site, and vice versa.
        with pytest.raises(NotFound):
            list_annotations(session, world.supervisor, world.other_clip)
        with pytest.raises(NotFound):
            list_annotations(session, world.outsider, world.home_clip)
        assert list_annotations(session, world.supervisor, world.home_clip) == []


def test_consent_must_cover_the_use(world: World) -> None:
    with world.svc.db.session() as session:
        clip = session.get(Clip, world.home_clip)
        assert clip is not None
        consent = session.get(Consent, clip.consent_id)
        assert consent is not None
        consent.withdrawn_purposes = ["family-review"]
    with pytest.raises(ConsentError):
        create(world, world.facilitator)
    create(world, world.supervisor)  # supervision is still covered


def test_list_filters_and_orders_by_time(world: World) -> None:
    late = create(world, world.facilitator, start_ms=9000, end_ms=None)
    early = create(world, world.facilitator, start_ms=100, end_ms=200)
    parent = create(
        world,
        world.facilitator,
        start_ms=500,
        end_ms=None,
        subject="parent",
        scheme_id="adult-responses",
        codes=["waiting"],
    )
    with world.svc.db.session() as session:
        ids = [a.id for a in list_annotations(session, world.facilitator, world.home_clip)]
        assert ids == [early, parent, late]
        only = list_annotations(session, world.facilitator, world.home_clip, subject="parent")
        assert [a.id for a in only] == [parent]

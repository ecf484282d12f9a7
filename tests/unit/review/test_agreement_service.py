"""Comparing a trainee's and a supervisor's coding of one clip (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from review.agreement import compare_coders
from review.annotations import create_annotation
from review.errors import PermissionDenied, ValidationError
from storage.audit import Actor
from tests.unit.review.helpers import World, audit_actions


def code(world: World, actor: Actor, start: int, end: int, *codes: str, **extra: object) -> None:
    fields: dict[str, object] = {"subject": "infant", "scheme_id": "infant-cues"}
    fields.update(extra)
    with world.svc.db.session() as session:
        create_annotation(
            session, world.svc.audit, world.registry, actor, world.group_clip,
            start_ms=start, end_ms=end, codes=list(codes), **fields,  # type: ignore[arg-type]
        )  # fmt: skip


def compare(world: World, actor: Actor, **extra: object) -> dict[str, object]:
    options: dict[str, object] = {"scheme_id": "infant-cues", "window_ms": 10_000}
    options.update(extra)
    with world.svc.db.session() as session:
        return compare_coders(
            session, world.svc.audit, world.registry, actor, world.group_clip,
            coder_a=world.trainee.id, coder_b=world.supervisor.id, **options,  # type: ignore[arg-type]
        ).to_dict()  # fmt: skip


def test_supervisor_compares_with_the_trainee(world: World) -> None:
    # The 60 s clip in 10 s windows (6 windows).
    # Trainee: smiling in windows 0-1, gaze aversion in window 3.
    # Supervisor: smiling in window 0, turning away in window 3.
    code(world, world.trainee, 0, 20_000, "smiling")
    code(world, world.trainee, 30_000, 31_000, "gaze-aversion")
    code(world, world.supervisor, 2_000, 9_000, "smiling")
    code(world, world.supervisor, 35_000, 36_000, "turning-away")
    # A shared note without codes and a draft of the supervisor's are not coding.
    code(world, world.supervisor, 40_000, 41_000, scheme_id=None, text="nice")
    result = compare(world, world.supervisor)
    assert result["window_ms"] == 10_000 and result["windows"] == 6
    assert result["codes"] == ["gaze-aversion", "smiling", "turning-away"]
    # Pooled over 3 codes x 6 windows = 18 cells:
    #   smiling: both 1 (w0), only A 1 (w1), neither 4
    #   gaze-aversion: only A 1 (w3), neither 5
    #   turning-away: only B 1 (w3), neither 5
    #   both 1, only A 2, only B 1, neither 14 -> p_o = 15/18
    #   p_a = 3/18, p_b = 2/18; p_e = (3*2 + 15*16) / 324 = 246/324
    #   kappa = (270/324 - 246/324) / (78/324) = 24/78 = 4/13
    assert result["kappa"] == pytest.approx(4 / 13)
    differences = result["differences"]
    assert [d["index"] for d in differences] == [1, 3]  # type: ignore[union-attr, index]
    assert result["substitutions"] == [{"a": "gaze-aversion", "b": "turning-away", "windows": 1}]
    cluster = compare(world, world.supervisor, level="cluster")
    # Folded to clusters: gaze aversion is subtle and turning away potent disengagement,
    # so window 3 still differs; smiling becomes potent engagement.
    assert cluster["codes"] == ["disengagement-potent", "disengagement-subtle", "engagement-potent"]
    assert "annotations.agreement" in audit_actions(world.svc)


def test_drafts_count_only_for_their_author(world: World) -> None:
    code(world, world.trainee, 0, 5000, "smiling", visibility="draft")
    code(world, world.supervisor, 0, 5000, "smiling")
    as_supervisor = compare(world, world.supervisor)
    assert as_supervisor["annotations"] == {"a": 0, "b": 1}
    as_trainee = compare(world, world.trainee)
    assert as_trainee["annotations"] == {"a": 1, "b": 1}


def test_who_may_compare_and_bad_requests(world: World) -> None:
    with pytest.raises(PermissionDenied):
        compare(world, world.dpo)
    with (
        pytest.raises(ValidationError, match="two different"),
        world.svc.db.session() as session,
    ):
        compare_coders(
            session, world.svc.audit, world.registry, world.supervisor, world.group_clip,
            coder_a=world.trainee.id, coder_b=world.trainee.id, scheme_id="infant-cues",
            window_ms=1000,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="level"):
        compare(world, world.supervisor, level="vibes")
    with pytest.raises(ValidationError, match="unknown coding scheme"):
        compare(world, world.supervisor, scheme_id="nope")
    with pytest.raises(ValidationError, match="window"):
        compare(world, world.supervisor, window_ms=1)

"""Threads (replies, resolve/unresolve) and links between annotations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from review.annotations import create_annotation, delete_annotation, get_annotation
from review.errors import NotFound, PermissionDenied, ValidationError
from review.links import link_annotations, links_of_clip, unlink
from review.threads import add_reply, delete_reply, list_replies, set_resolved
from storage.audit import Actor
from tests.unit.review.helpers import World, audit_actions


def note(world: World, actor: Actor, clip_id: str, start_ms: int = 0, **extra: object) -> str:
    fields: dict[str, object] = {"subject": "infant", "text": "note"}
    fields.update(extra)
    with world.svc.db.session() as session:
        return create_annotation(
            session, world.svc.audit, world.registry, actor, clip_id, start_ms=start_ms, **fields
        ).id  # type: ignore[arg-type]


def test_a_thread_between_supervisor_and_trainee(world: World) -> None:
    comment = note(world, world.supervisor, world.group_clip, subject="facilitator")
    with world.svc.db.session() as session:
        add_reply(session, world.svc.audit, world.trainee, comment, "I was nervous here")
        world.svc.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
        add_reply(session, world.svc.audit, world.supervisor, comment, "It did not show!")
    with world.svc.db.session() as session:
        thread = list_replies(session, world.trainee, comment)
        assert [r.text for r in thread] == ["I was nervous here", "It did not show!"]
        assert [r.author_role for r in thread] == ["facilitator", "supervisor"]
        resolved = set_resolved(session, world.svc.audit, world.trainee, comment, True)
        assert resolved.resolved and resolved.resolved_by == world.trainee.id
        again = set_resolved(session, world.svc.audit, world.trainee, comment, True)
        assert again.resolved  # repeating is harmless
    with world.svc.db.session() as session:
        reopened = set_resolved(session, world.svc.audit, world.supervisor, comment, False)
        assert not reopened.resolved and reopened.resolved_at is None
    actions = audit_actions(world.svc)
    assert actions.count("annotation.reply") == 2
    assert actions.count("annotation.resolve") == 1 and actions.count("annotation.unresolve") == 1


def test_replies_are_validated_and_only_the_author_deletes(world: World) -> None:
    comment = note(world, world.supervisor, world.group_clip)
    for bad in ("", "   ", "x" * 10_001, "a\x07b"):
        with world.svc.db.session() as session, pytest.raises(ValidationError):
            add_reply(session, world.svc.audit, world.trainee, comment, bad)
    with world.svc.db.session() as session:
        reply_id = add_reply(session, world.svc.audit, world.trainee, comment, "ok").id
    with world.svc.db.session() as session, pytest.raises(PermissionDenied):
        delete_reply(session, world.svc.audit, world.supervisor, reply_id)
    with world.svc.db.session() as session:
        delete_reply(session, world.svc.audit, world.trainee, reply_id)
    with world.svc.db.session() as session:
        assert list_replies(session, world.supervisor, comment) == []
        with pytest.raises(NotFound):
            delete_reply(session, world.svc.audit, world.trainee, reply_id)


def test_nobody_else_can_reply_to_a_draft_or_to_another_sites_annotation(world: World) -> None:
    draft = note(world, world.supervisor, world.group_clip, visibility="draft")
    with world.svc.db.session() as session, pytest.raises(NotFound):
        add_reply(session, world.svc.audit, world.trainee, draft, "hello?")
    with world.svc.db.session() as session, pytest.raises(NotFound):
        add_reply(session, world.svc.audit, world.outsider, draft, "hello?")


def test_link_an_initiative_to_its_response(world: World) -> None:
    cue = note(
        world, world.facilitator, world.home_clip, 1000, scheme_id="infant-cues", codes=["smiling"]
    )
    response = note(
        world,
        world.facilitator,
        world.home_clip,
        1400,
        subject="parent",
        scheme_id="adult-responses",
        codes=["returning-eye-contact"],
    )
    with world.svc.db.session() as session:
        link = link_annotations(session, world.svc.audit, world.facilitator, cue, response)
        assert (link.source_id, link.target_id, link.relation) == (cue, response, "received")
    with world.svc.db.session() as session:
        assert [x.id for x in links_of_clip(session, world.supervisor, world.home_clip)] == [
            link.id
        ]
        with pytest.raises(ValidationError, match="already linked"):
            link_annotations(session, world.svc.audit, world.facilitator, cue, response)
    with world.svc.db.session() as session:
        with pytest.raises(ValidationError, match="itself"):
            link_annotations(session, world.svc.audit, world.facilitator, cue, cue)
        with pytest.raises(ValidationError, match="relation"):
            link_annotations(session, world.svc.audit, world.facilitator, response, cue, "loves")
    with world.svc.db.session() as session, pytest.raises(PermissionDenied):
        unlink(session, world.svc.audit, world.supervisor, link.id)  # neither creator nor author
    with world.svc.db.session() as session:
        unlink(session, world.svc.audit, world.facilitator, link.id)
    with world.svc.db.session() as session:
        assert links_of_clip(session, world.facilitator, world.home_clip) == []
    assert {"annotation.link", "annotation.unlink"} <= set(audit_actions(world.svc))


def test_links_across_clips_or_to_hidden_annotations_are_refused(world: World) -> None:
    here = note(world, world.supervisor, world.home_clip)
    there = note(world, world.supervisor, world.group_clip)
    hidden = note(world, world.supervisor2, world.home_clip, visibility="draft")
    with world.svc.db.session() as session:
        with pytest.raises(ValidationError, match="same clip"):
            link_annotations(session, world.svc.audit, world.supervisor, here, there)
        with pytest.raises(NotFound):
            link_annotations(session, world.svc.audit, world.supervisor, here, hidden)


def test_links_to_deleted_annotations_disappear(world: World) -> None:
    a = note(world, world.facilitator, world.home_clip)
    b = note(world, world.facilitator, world.home_clip, 2000)
    with world.svc.db.session() as session:
        link_annotations(session, world.svc.audit, world.facilitator, a, b, "related")
        delete_annotation(session, world.svc.audit, world.facilitator, b)
    with world.svc.db.session() as session:
        assert links_of_clip(session, world.facilitator, world.home_clip) == []
        assert get_annotation(session, world.facilitator, a).id == a

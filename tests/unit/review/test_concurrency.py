"""Coders of one clip write side by side; a sign-off and the moment limit still hold.

Real threads, each with its own unit of work, on SQLite (a file, WAL) and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from review.annotations import create_annotation, update_annotation
from review.errors import Conflict, Locked, ValidationError
from review.moments import add_moment
from review.supervision import sign_off
from storage.audit import Actor
from storage.db.governance import AuditEntry
from storage.db.review import Annotation, Moment
from tests.unit.review.helpers import World

CREATES_PER_CODER = 12


def run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


def test_a_sign_off_racing_creates_never_leaves_a_later_annotation(world: World) -> None:
    svc = world.svc
    coders = [world.trainee, world.supervisor2]
    created: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    some_created = threading.Event()
    start = threading.Barrier(len(coders) + 1)

    def code(actor: Actor, index: int) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            for n in range(CREATES_PER_CODER):
                try:
                    with svc.db.session() as session:
                        row = create_annotation(
                            session, svc.audit, world.registry, actor, world.group_clip,
                            start_ms=(index * CREATES_PER_CODER + n) * 100,
                            subject="facilitator", text="note",
                        )  # fmt: skip
                        row_id = row.id
                    created.append(row_id)
                    if len(created) >= 3:
                        some_created.set()
                except Locked:
                    refused.append(actor.id)
                except BaseException as exc:
                    errors.append(exc)

        return work

    def supervise() -> None:
        start.wait()
        some_created.wait(timeout=60)
        try:
            with svc.db.session() as session:
                sign_off(
                    session, svc.audit, svc.settings, world.supervisor, world.group_clip,
                    summary="Signed off while the coders were still typing.",
                )  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    run_threads([code(actor, i) for i, actor in enumerate(coders)] + [supervise])

    assert errors == []  # no "database is locked", no deadlock, no other failure
    assert len(created) + len(refused) == len(coders) * CREATES_PER_CODER
    with svc.db.session() as session:
        stored = set(
            session.scalars(select(Annotation.id).where(Annotation.clip_id == world.group_clip))
        )
        signed_seq = session.scalar(
            select(AuditEntry.seq).where(AuditEntry.action == "review.sign_off")
        )
        create_seqs = session.scalars(
            select(AuditEntry.seq).where(
                AuditEntry.action == "annotation.create", AuditEntry.target_id.in_(stored)
            )
        ).all()
    assert signed_seq is not None
    assert stored == set(created)  # every refused create stored nothing
    assert len(create_seqs) == len(stored)
    # The audit chain is appended last in each transaction, in commit order: every
    # annotation that exists was written before the sign-off.
    assert max(create_seqs) < signed_seq


def test_concurrent_edits_of_one_annotation_conflict_on_the_revision(world: World) -> None:
    svc = world.svc
    with svc.db.session() as session:
        note = create_annotation(
            session, svc.audit, world.registry, world.trainee, world.group_clip,
            start_ms=0, subject="facilitator", text="first",
        ).id  # fmt: skip
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def edit(n: int) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            try:
                with svc.db.session() as session:
                    update_annotation(
                        session, svc.audit, world.registry, world.trainee, note,
                        {"text": f"edit {n}"}, expected_revision=1,
                    )  # fmt: skip
                outcomes.append("ok")
            except Conflict:
                outcomes.append("conflict")

        return work

    run_threads([edit(n) for n in range(4)])
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    with svc.db.session() as session:
        row = session.get(Annotation, note)
        assert row is not None and row.revision == 2


def test_the_moment_limit_holds_under_a_race(world: World) -> None:
    svc = world.svc
    limit = svc.settings.max_moments
    with svc.db.session() as session:
        for n in range(limit - 1):
            add_moment(
                session, svc.audit, svc.settings, world.facilitator, world.home_clip,
                start_ms=n * 5_000, end_ms=n * 5_000 + 2_000,
            )  # fmt: skip
    outcomes: list[str] = []
    start = threading.Barrier(5)

    def pick(n: int) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            try:
                with svc.db.session() as session:
                    add_moment(
                        session, svc.audit, svc.settings, world.facilitator, world.home_clip,
                        start_ms=30_000 + n * 5_000, end_ms=30_000 + n * 5_000 + 1_000,
                    )  # fmt: skip
                outcomes.append("ok")
            except ValidationError:
                outcomes.append("full")

        return work

    run_threads([pick(n) for n in range(5)])
    assert sorted(outcomes) == ["full"] * 4 + ["ok"]
    with svc.db.session() as session:
        count = session.scalar(
            select(func.count()).select_from(Moment).where(Moment.clip_id == world.home_clip)
        )
    assert count == limit

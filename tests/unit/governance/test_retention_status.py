"""``retention_status`` counts set-based exactly what :func:`clip_state` says of each clip,
on SQLite and PostgreSQL: every state, the precedence between them, each boundary of the
due windows, lifted holds, other sites and other kinds, and the tombstones."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from storage.clock import FixedClock
from storage.db.footage import Clip
from storage.db.governance import LegalHold, Tombstone
from storage.governance_status import STATES, clip_state, retention_status
from tests.unit.governance.factory import World, make_consent, make_world
from webapp.composition import Services

DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def _clip(
    svc: Services,
    world: World,
    consent: str,
    *,
    kind: str = "home-visit",
    status: str = "ready",
    delete_after: datetime | None,
    destroying: bool = False,
) -> str:
    now = svc.clock.now()
    with svc.db.session() as session:
        clip = Clip(
            site_id=world.site_id,
            consent_id=consent,
            kind=kind,
            family_code="FAM-0042",
            status=status,
            created_at=now - 10 * DAY,
            updated_at=now,
            delete_after=delete_after,
            destroy_requested_at=now - DAY if destroying else None,
        )
        session.add(clip)
        session.flush()
        return clip.id


def _hold(svc: Services, world: World, clip_id: str, *, lifted: bool = False) -> None:
    now = svc.clock.now()
    with svc.db.session() as session:
        session.add(
            LegalHold(
                clip_id=clip_id,
                site_id=world.site_id,
                reason="court order",
                placed_by="dpo",
                placed_at=now - DAY,
                lifted_by="dpo" if lifted else None,
                lifted_at=now if lifted else None,
            )
        )


def _tombstone(svc: Services, world: World, consent: str, kind: str) -> None:
    now = svc.clock.now()
    with svc.db.session() as session:
        session.add(
            Tombstone(
                clip_id=f"gone-{world.site_slug}-{kind}",
                site_id=world.site_id,
                kind=kind,
                family_code="FAM-0042",
                consent_id=consent,
                form_reference="CF-1",
                purposes=["family-review"],
                clip_created_at=now - 400 * DAY,
                destroyed_at=now - DAY,
                reason="retention-expired",
                destroyed_by="system",
            )
        )


def _populate(svc: Services, world: World) -> None:
    """A clip in every state and on every boundary, at ``world``'s site."""
    now = svc.clock.now()
    consent = make_consent(svc, world)
    for kind in ("home-visit", "group-session"):
        for delete_after in (
            now - 100 * DAY,  # overdue
            now,  # overdue: due at this very moment
            now + TICK,  # due-7d
            now + 7 * DAY,  # due-7d, its last moment
            now + 7 * DAY + TICK,  # due-30d
            now + 30 * DAY,  # due-30d, its last moment
            now + 30 * DAY + TICK,  # active
            now + 300 * DAY,  # active
            None,  # unscheduled
        ):
            _clip(svc, world, consent, kind=kind, delete_after=delete_after)
        _clip(svc, world, consent, kind=kind, status="erasure-pending", delete_after=now - DAY)
        _clip(svc, world, consent, kind=kind, status="destroyed", delete_after=now - DAY)
        _clip(svc, world, consent, kind=kind, delete_after=now - DAY, destroying=True)
        # Withdrawn consent: destruction begun long before retention would end it.
        _clip(svc, world, consent, kind=kind, delete_after=now + 300 * DAY, destroying=True)
        _clip(svc, world, consent, kind=kind, status="processing", delete_after=None)
        held_overdue = _clip(svc, world, consent, kind=kind, delete_after=now - DAY)
        _hold(svc, world, held_overdue)
        held_active = _clip(svc, world, consent, kind=kind, delete_after=now + 300 * DAY)
        _hold(svc, world, held_active)
        _hold(svc, world, held_active)  # two holds: still one clip
        erasing_held = _clip(
            svc, world, consent, kind=kind, status="erasure-pending", delete_after=now
        )
        _hold(svc, world, erasing_held)  # erasure comes first
        destroying_held = _clip(svc, world, consent, kind=kind, delete_after=now, destroying=True)
        _hold(svc, world, destroying_held)  # destruction comes first
        lifted = _clip(svc, world, consent, kind=kind, delete_after=now + 300 * DAY)
        _hold(svc, world, lifted, lifted=True)  # counts as active again
        _tombstone(svc, world, consent, kind)


def _expected(svc: Services, site_id: str | None) -> dict[tuple[str, str], Counter[str]]:
    """Each clip's state by :func:`clip_state`, one clip at a time."""
    now = svc.clock.now()
    counts: dict[tuple[str, str], Counter[str]] = {}
    with svc.db.session() as session:
        held = set(session.scalars(select(LegalHold.clip_id).where(LegalHold.lifted_at.is_(None))))
        clips = session.scalars(select(Clip).where(Clip.status != "destroyed")).all()
        tombs = session.scalars(select(Tombstone)).all()
        for clip in clips:
            if site_id in (None, clip.site_id):
                key = (clip.site_id, clip.kind)
                counts.setdefault(key, Counter())[clip_state(clip, clip.id in held, now)] += 1
        for tomb in tombs:
            if site_id in (None, tomb.site_id):
                counts.setdefault((tomb.site_id, tomb.kind), Counter())["destroyed"] += 1
    return counts


def _as_counts(
    rows: list[dict[str, object]], slugs: dict[str, str]
) -> dict[tuple[str, str], Counter[str]]:
    out: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        counter = Counter({state: int(str(row[state])) for state in STATES if row[state]})
        assert row["total"] == sum(counter.values())
        out[(slugs[str(row["site"])], str(row["kind"]))] = counter
    return out


def test_the_counts_match_each_clips_state_for_one_site_and_for_all(
    services: Services, clock: FixedClock
) -> None:
    north, south = make_world(services, "north"), make_world(services, "south")
    _populate(services, north)
    _populate(services, south)
    slugs = {"north": north.site_id, "south": south.site_id}
    now = clock.now()
    with services.db.session() as session:
        everywhere = retention_status(session, now)
        north_only = retention_status(session, now, north.site_id)
    assert _as_counts(everywhere, slugs) == _expected(services, None)
    assert _as_counts(north_only, slugs) == _expected(services, north.site_id)
    assert [(r["site"], r["kind"]) for r in everywhere] == [
        ("north", "group-session"),
        ("north", "home-visit"),
        ("south", "group-session"),
        ("south", "home-visit"),
    ]
    # The figures themselves, per site and kind (the expectation above is computed too).
    (row,) = [r for r in north_only if r["kind"] == "home-visit"]
    assert {s: row[s] for s in STATES} == {
        "active": 3,  # two scheduled beyond 30 days, and the one whose hold was lifted
        "due-30d": 2,
        "due-7d": 2,
        "overdue": 2,
        "held": 2,
        "unscheduled": 2,  # a ready clip and one still processing
        "destroying": 3,
        "erasure-pending": 2,
        "destroyed": 1,
    }
    assert row["total"] == 19  # 18 live clips and a tombstone


def test_a_site_with_only_tombstones_or_no_clips(services: Services, clock: FixedClock) -> None:
    north, south = make_world(services, "north"), make_world(services, "south")
    _tombstone(services, north, make_consent(services, north), "home-visit")
    with services.db.session() as session:
        assert retention_status(session, clock.now(), south.site_id) == []
        (row,) = retention_status(session, clock.now(), north.site_id)
    assert (row["site"], row["destroyed"], row["active"], row["total"]) == ("north", 1, 0, 1)

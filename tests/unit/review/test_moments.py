"""Moments and stills for a shared review, and the playlist."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from review.errors import Locked, NotFound, ValidationError
from review.moments import (
    DEFAULT_QUESTION,
    MAX_STILLS,
    add_moment,
    add_still,
    as_dict,
    delete_moment,
    get_moment,
    playlist,
    reorder_moments,
    update_moment,
)
from storage.db.footage import Blob, Clip, DataKey
from storage.db.review import Moment
from tests.unit.review.helpers import World, audit_actions


def moment(world: World, start_ms: int, end_ms: int, caption: str | None = None) -> str:
    with world.svc.db.session() as session:
        return add_moment(
            session,
            world.svc.audit,
            world.svc.settings,
            world.facilitator,
            world.home_clip,
            start_ms=start_ms,
            end_ms=end_ms,
            caption=caption,
        ).id


def rendered(world: World, moment_id: str) -> str:
    """Pretend the worker cut the moment: an encrypted blob of the clip, status ready."""
    with world.svc.db.session() as session:
        row = session.get(Moment, moment_id)
        assert row is not None
        if session.get(DataKey, row.clip_id) is None:
            world.svc.vault.create_key(session, row.site_id, row.clip_id)
        blob = world.svc.vault.put_bytes(
            session, row.site_id, row.clip_id, "moment", b"fake mp4 bytes", "video/mp4"
        )
        row.blob_id, row.status = blob.id, "ready"
        return blob.id


def test_choose_moments_and_stills_in_playlist_order(world: World) -> None:
    first = moment(world, 1000, 9000, "What is your baby telling you here?")
    second = moment(world, 20_000, 30_000)
    with world.svc.db.session() as session:
        still = add_still(
            session, world.svc.audit, world.facilitator, world.home_clip, at_ms=12_345,
            caption="Look at her hands",
        ).id  # fmt: skip
    with world.svc.db.session() as session:
        items = playlist(session, world.facilitator, world.home_clip)
        assert [m.id for m in items] == [first, second, still]
        assert [m.kind for m in items] == ["moment", "moment", "still"]
        assert all(m.status == "pending" and m.blob_id is None for m in items)
        assert items[1].caption == DEFAULT_QUESTION
        assert as_dict(items[2])["end_ms"] is None
    with world.svc.db.session() as session:
        order = [still, first, second]
        assert [
            m.id
            for m in reorder_moments(
                session, world.svc.audit, world.facilitator, world.home_clip, order
            )
        ] == order
    assert {"moment.create", "still.create", "moment.reorder"} <= set(audit_actions(world.svc))


def test_limits_on_number_and_length(world: World) -> None:
    limit = world.svc.settings.max_moments
    longest = world.svc.settings.max_moment_seconds * 1000
    with pytest.raises(ValidationError, match="at most"):
        moment(world, 0, longest + 1)
    for i in range(limit):
        moment(world, i * 1000, i * 1000 + 500)
    with pytest.raises(ValidationError, match=f"at most {limit} moments"):
        moment(world, 50_000, 51_000)
    with world.svc.db.session() as session:
        for i in range(MAX_STILLS):
            add_still(session, world.svc.audit, world.facilitator, world.home_clip, at_ms=i)
    with world.svc.db.session() as session, pytest.raises(ValidationError, match="stills"):
        add_still(session, world.svc.audit, world.facilitator, world.home_clip, at_ms=99)


@pytest.mark.parametrize(
    ("start", "end", "caption"),
    [(-1, 1000, None), (5000, 5000, None), (59_000, 60_001, None), (1, 2, "  "), (1, 2, "\x00")],
)
def test_bad_moments_change_nothing(
    world: World, start: int, end: int, caption: str | None
) -> None:
    with pytest.raises(ValidationError):
        moment(world, start, end, caption)
    with world.svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Moment)) == 0


def test_retiming_drops_the_old_cut_and_goes_back_to_pending(world: World) -> None:
    moment_id = moment(world, 1000, 5000)
    blob_id = rendered(world, moment_id)
    with world.svc.db.session() as session:
        store_key = session.get(Blob, blob_id).store_key  # type: ignore[union-attr]
    assert world.svc.blobs.exists(store_key)
    with world.svc.db.session() as session:
        same = update_moment(
            session, world.svc.audit, world.svc.vault, world.svc.settings, world.facilitator,
            moment_id, caption="Who is she looking at?",
        )  # fmt: skip
        assert same.status == "ready" and same.blob_id == blob_id  # caption only: no re-cut
    with world.svc.db.session() as session:
        moved = update_moment(
            session, world.svc.audit, world.svc.vault, world.svc.settings, world.facilitator,
            moment_id, start_ms=2000, end_ms=6000,
        )  # fmt: skip
        assert (moved.status, moved.blob_id, moved.start_ms) == ("pending", None, 2000)
    assert not world.svc.blobs.exists(store_key)
    with world.svc.db.session() as session:
        assert session.get(Blob, blob_id) is None
        with pytest.raises(ValidationError):
            update_moment(
                session, world.svc.audit, world.svc.vault, world.svc.settings,
                world.facilitator, moment_id, end_ms=60_000,
            )  # fmt: skip


def test_delete_destroys_the_cut(world: World) -> None:
    moment_id = moment(world, 1000, 5000)
    blob_id = rendered(world, moment_id)
    with world.svc.db.session() as session:
        delete_moment(session, world.svc.audit, world.svc.vault, world.facilitator, moment_id)
    with world.svc.db.session() as session:
        assert session.get(Blob, blob_id) is None
        with pytest.raises(NotFound):
            get_moment(session, world.facilitator, moment_id)
    assert "moment.delete" in audit_actions(world.svc)


def test_reorder_must_name_every_item_once(world: World) -> None:
    a, b = moment(world, 0, 1000), moment(world, 2000, 3000)
    for order in ([a], [a, a], [a, b, "x"], [b, a, a]):
        with world.svc.db.session() as session, pytest.raises(ValidationError):
            reorder_moments(session, world.svc.audit, world.facilitator, world.home_clip, order)


def test_access_and_lock(world: World) -> None:
    with world.svc.db.session() as session, pytest.raises(NotFound):  # not a reviewer of it
        add_still(session, world.svc.audit, world.colleague, world.home_clip, at_ms=0)
    with world.svc.db.session() as session, pytest.raises(NotFound):
        playlist(session, world.outsider, world.home_clip)
    with world.svc.db.session() as session:
        clip = session.get(Clip, world.home_clip)
        assert clip is not None
        clip.signed_off_at = world.svc.clock.now()
    with pytest.raises(Locked):
        moment(world, 0, 1000)

"""claims.release_own: a stopping process hands back exactly the clips it holds."""

from __future__ import annotations

import pytest

from ingest import claims
from storage.db.footage import Clip
from tests.unit.ingest.staging import clip_row, stage_clip
from webapp.composition import Services


def test_a_stopping_process_hands_back_only_its_own_clips(services: Services) -> None:
    mine = stage_clip(services, b"mine")
    theirs = stage_clip(services, b"theirs")
    idle = stage_clip(services, b"idle")
    claim = claims.take(services, mine)
    other = claims.take(services, theirs)
    assert claim is not None and other is not None
    # The other clip is held by another worker process (another pid, same host).
    host, _pid, rand = other.token.split(":")
    foreign = f"{host}:999999999:{rand}"
    with services.db.session() as session:
        row = session.get(Clip, theirs)
        assert row is not None
        row.claimed_by = foreign

    assert claims.release_own(services) == [mine]
    clip = clip_row(services, mine)
    assert (clip.status, clip.stage, clip.progress, clip.claimed_by) == (
        "queued",
        "retrying",
        0,
        None,
    )
    assert clip.claim_expires_at is None
    assert clip.attempts == 0, "an interrupted attempt does not count against the clip"
    assert clip_row(services, theirs).claimed_by == foreign
    assert clip_row(services, idle).status == "queued"
    # Idempotent, and the next worker can claim the clip at once.
    assert claims.release_own(services) == []
    again = claims.take(services, mine)
    assert again is not None and again.attempt == 1
    # The interrupted job, if still running, can no longer write.
    with pytest.raises(claims.ClaimLost):
        claims.record(services, claim, progress=50)

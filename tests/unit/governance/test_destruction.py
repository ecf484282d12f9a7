"""The crypto-shredding destroy path and the retention sweep, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.audit.verify import verify_chain
from storage.blobs import BlobStore
from storage.clock import FixedClock
from storage.container import iter_decrypt
from storage.db.footage import Blob
from storage.db.governance import AuditEntry, Tombstone
from storage.destruction import STEPS, Destroyer
from storage.errors import BlobStoreError, KeyNotFound, NotFound
from storage.holds import lift_hold
from storage.purposes import require_clip_purpose
from storage.vault import Vault
from tests.unit.governance.factory import (
    ADMIN,
    clip_row,
    hold,
    make_clip,
    make_consent,
    make_world,
    rows_of,
    wrapped_key,
)
from webapp.composition import Services

YEAR = timedelta(days=366)


def _destroyer(svc: Services, **kw: object) -> Destroyer:
    return Destroyer(svc.db, svc.vault, svc.audit, **kw)  # type: ignore[arg-type]


def _store_keys(svc: Services, world_site: str, clip_id: str) -> list[str]:
    return svc.blobs.keys(f"{world_site}/{clip_id}/")


def test_expired_clip_is_crypto_shredded_and_leaves_a_tombstone(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)
    keep_id = make_clip(services, world, consent, created_at=clock.now() + timedelta(days=200))
    with services.db.session() as session:
        blob = session.scalars(select(Blob).where(Blob.clip_id == clip_id)).first()
        assert blob is not None
        old_copy = b"".join(services.blobs.open(blob.store_key))
        binding = services.vault.binding(blob)
        old_key = services.vault.data_key(session, world.site_id, clip_id)
    assert _store_keys(services, world.site_id, clip_id)

    clock.advance(YEAR)  # past the 365-day cap (no shared review yet)
    report = _destroyer(services).sweep(services.settings.retention)

    assert report.destroyed == [clip_id]
    assert report.failed == []
    assert _store_keys(services, world.site_id, clip_id) == []
    assert wrapped_key(services, clip_id) is None
    assert set(rows_of(services, clip_id).values()) == {0}
    # The copy an attacker kept of the ciphertext has no key any more.
    with services.db.session() as session, pytest.raises(KeyNotFound):
        services.vault.data_key(session, world.site_id, clip_id)
    assert old_copy and list(iter_decrypt(_Chunks(old_copy), old_key, binding))  # sanity
    clip = clip_row(services, clip_id)
    assert clip.status == "destroyed" and clip.title == ""
    with services.db.session() as session:
        tomb = session.get(Tombstone, clip_id)
        assert tomb is not None
        assert (tomb.kind, tomb.consent_id, tomb.reason) == (
            "home-visit",
            consent,
            "retention-expired",
        )
        assert tomb.annotation_count == 2
        assert tomb.blob_count == 4  # three renditions + the moment's still
        assert tomb.destroyed_by == "system:retention-sweep"
        assert tomb.destroyed_at == clock.now() and tomb.key_destroyed_at == clock.now()
        entry = session.get(AuditEntry, tomb.audit_seq)
        assert entry is not None and entry.action == "clip.destroy"
        assert entry.hash == tomb.audit_hash and entry.target_id == clip_id
        assert verify_chain(session, services.audit.key, services.audit.checkpoints).ok
    # The other clip is not due yet and is untouched.
    assert clip_row(services, keep_id).status == "ready"
    assert wrapped_key(services, keep_id) is not None
    with pytest.raises(NotFound), services.db.session() as session:
        require_clip_purpose(session, clip, "family-review")


class _Chunks:
    """A readable stream over bytes, for decrypting a saved copy directly."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readinto(self, buf: memoryview) -> int:
        n = min(len(buf), len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        out, self._data = self._data[:size], self._data[size:]
        return out


def test_sweep_is_idempotent_and_does_not_touch_live_clips(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)
    clock.advance(YEAR)
    destroyer = _destroyer(services)
    assert destroyer.sweep(services.settings.retention).destroyed == [clip_id]
    with services.db.session() as session:
        before = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    again = destroyer.sweep(services.settings.retention)
    assert again.destroyed == [] and again.failed == []
    with services.db.session() as session:
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.seq > (before or 0)))
        )
        assert "clip.destroy" not in actions and "clip.shred" not in actions
        assert len(session.scalars(select(Tombstone)).all()) == 1


def test_held_clip_survives_until_the_hold_is_lifted(services: Services, clock: FixedClock) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)
    hold_id = hold(services, world, clip_id)
    clock.advance(YEAR)
    report = _destroyer(services).sweep(services.settings.retention)
    assert report.destroyed == [] and report.held == [clip_id]
    assert wrapped_key(services, clip_id) is not None
    assert _store_keys(services, world.site_id, clip_id)
    with services.db.session() as session:
        lift_hold(session, services.audit, ADMIN, site_id=world.site_id, hold_id=hold_id)
    assert _destroyer(services).sweep(services.settings.retention).destroyed == [clip_id]
    assert _store_keys(services, world.site_id, clip_id) == []


class FlakyStore:
    """Wraps a store; deletes fail while ``broken`` is set."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.broken = True

    def delete(self, key: str) -> None:
        if self.broken:
            raise BlobStoreError("store unavailable")
        self.inner.delete(key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_store_error_leaves_clip_marked_and_the_next_sweep_finishes(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)
    flaky = FlakyStore(services.blobs)
    vault = Vault(flaky, services.keys, clock, services.settings.segment_size)  # type: ignore[arg-type]
    destroyer = Destroyer(services.db, vault, services.audit)
    clock.advance(YEAR)
    report = destroyer.sweep(services.settings.retention)
    assert report.destroyed == []
    assert report.failed[0]["clip_id"] == clip_id and "BlobStoreError" in report.failed[0]["error"]
    clip = clip_row(services, clip_id)
    assert clip.status != "destroyed" and clip.destroy_requested_at is not None
    assert wrapped_key(services, clip_id) is None  # shredded first: already unreadable
    with services.db.session() as session:
        assert session.get(Tombstone, clip_id) is None
    assert _store_keys(services, world.site_id, clip_id)  # bytes remain, so not "destroyed"

    flaky.broken = False
    clock.advance(timedelta(hours=1))
    assert destroyer.sweep(services.settings.retention).destroyed == [clip_id]
    assert _store_keys(services, world.site_id, clip_id) == []
    with services.db.session() as session:
        tomb = session.get(Tombstone, clip_id)
        assert tomb is not None and tomb.annotation_count == 2 and tomb.blob_count == 4


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_after_any_step_is_completed_by_the_next_sweep(
    services: Services, clock: FixedClock, step: str
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent)

    def crash(done: str, _clip: str) -> None:
        if done == step:
            raise Crash(step)

    clock.advance(YEAR)
    with pytest.raises(Crash):
        _destroyer(services, on_step=crash).sweep(services.settings.retention)
    report = _destroyer(services).sweep(services.settings.retention)
    assert report.failed == []
    assert _store_keys(services, world.site_id, clip_id) == []
    assert wrapped_key(services, clip_id) is None
    assert set(rows_of(services, clip_id).values()) == {0}
    with services.db.session() as session:
        tomb = session.get(Tombstone, clip_id)
        assert tomb is not None and tomb.annotation_count == 2 and tomb.blob_count == 4
        destroys = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "clip.destroy")
        ).all()
        assert len(destroys) == 1
        assert verify_chain(session, services.audit.key, services.audit.checkpoints).ok


def test_stray_object_under_the_clip_prefix_is_deleted(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent, review_rows=False)
    writer = services.blobs.writer(f"{world.site_id}/{clip_id}/original-orphan")
    writer.write(b"ciphertext whose row never committed")
    writer.commit()
    clock.advance(YEAR)
    assert _destroyer(services).sweep(services.settings.retention).destroyed == [clip_id]
    assert _store_keys(services, world.site_id, clip_id) == []


def test_sqlite_files_no_longer_hold_the_wrapped_key(
    sqlite_services: Services, clock: FixedClock
) -> None:
    svc = sqlite_services
    world = make_world(svc)
    clip_id = make_clip(svc, world, make_consent(svc, world), review_rows=False)
    old = wrapped_key(svc, clip_id)
    assert old is not None
    db_files = list(svc.settings.home.glob("verp.db*"))
    assert any(old in f.read_bytes() for f in db_files)  # the check can find it
    clock.advance(YEAR)
    assert _destroyer(svc).sweep(svc.settings.retention).destroyed == [clip_id]
    for path in svc.settings.home.glob("verp.db*"):
        assert old not in path.read_bytes(), path.name


def test_rows_written_after_the_shred_are_removed_and_counted(
    services: Services, clock: FixedClock
) -> None:
    from storage.db.review import Annotation, Moment

    world = make_world(services)
    clip_id = make_clip(services, world, make_consent(services, world))

    def crash(done: str, _clip: str) -> None:
        if done == "shredded":
            raise Crash(done)

    clock.advance(YEAR)
    with pytest.raises(Crash):
        _destroyer(services, on_step=crash).sweep(services.settings.retention)
    with services.db.session() as session:  # a request that raced the shred
        blob = session.scalars(select(Blob).where(Blob.clip_id == clip_id)).first()
        assert blob is not None
        now = clock.now()
        session.add(
            Annotation(
                clip_id=clip_id,
                site_id=world.site_id,
                author_id=world.user_id,
                author_role="supervisor",
                start_ms=0,
                subject="infant",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            Moment(
                clip_id=clip_id,
                site_id=world.site_id,
                kind="still",
                start_ms=0,
                blob_id=blob.id,
                created_by=world.user_id,
                created_at=now,
            )
        )
    report = _destroyer(services).sweep(services.settings.retention)
    assert report.destroyed == [clip_id] and report.failed == []
    assert set(rows_of(services, clip_id).values()) == {0}
    with services.db.session() as session:
        tomb = session.get(Tombstone, clip_id)
        assert tomb is not None and tomb.annotation_count == 3
        late = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "clip.late_rows")
        ).one()
        assert late.details["rows_deleted"] == {"annotations": 1, "moments": 1}

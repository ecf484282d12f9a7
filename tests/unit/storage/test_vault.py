"""The vault on the embedded profile (local files + key file) and the scale-out profile
(S3 + KMS on moto), each on SQLite and PostgreSQL: encrypted writes, range reads and
crypto-shredding."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.accounts import create_site
from storage.container import iter_decrypt
from storage.db.footage import Blob, DataKey
from storage.errors import DecryptionError, KeyNotFound, KeyProviderError
from storage.keys import KeyContext, WrappedKey
from storage.vault import Vault
from tests.unit.storage.vault_helpers import ACTOR, new_clip, store_blob
from webapp.composition import Services

SEGMENT = 4096


@pytest.fixture(params=["embedded", "scale-out"])
def svc(request: pytest.FixtureRequest, db_url: str) -> Services:
    """Services of either deployment profile, on the database backend of ``db_url``."""
    name = "services" if request.param == "embedded" else "s3_services"
    services: Services = request.getfixturevalue(name)
    return services


@pytest.fixture
def vault(svc: Services) -> Vault:
    """The services' vault with small segments, so tiny data spans many of them."""
    return Vault(blobs=svc.blobs, keys=svc.keys, clock=svc.clock, segment_size=SEGMENT)


def test_multi_segment_blob_round_trips_with_range_reads(svc: Services, vault: Vault) -> None:
    data = os.urandom(SEGMENT * 5 + 1234)
    blob = store_blob(svc, vault, data)
    stored = b"".join(svc.blobs.open(blob.store_key))
    assert blob.plaintext_size == len(data)
    assert blob.ciphertext_size == len(stored) == svc.blobs.size(blob.store_key)
    assert data[100:164] not in stored, "the store holds ciphertext only"
    with svc.db.session() as session:
        row = session.get(Blob, blob.id)
        assert row is not None
        reader = vault.range_reader(session, row)
        assert reader.size == len(data)
        for start, stop in [
            (0, 1),
            (SEGMENT - 1, SEGMENT + 1),
            (SEGMENT, 2 * SEGMENT),
            (123, 4 * SEGMENT + 77),
            (len(data) - 10, len(data)),
            (0, len(data)),
            (len(data) - 5, len(data) + 100),
        ]:
            assert reader.read(start, stop) == data[start:stop], (start, stop)
        assert b"".join(vault.iter_plaintext(session, row)) == data


def test_failed_write_leaves_no_row_and_no_bytes(svc: Services, vault: Vault) -> None:
    with svc.db.session() as session:
        clip = new_clip(session, svc, vault)
        clip_id = clip.id
        with (
            pytest.raises(RuntimeError),
            vault.writer(session, clip.site_id, clip.id, "original") as out,
        ):
            out.write(os.urandom(3 * SEGMENT))
            raise RuntimeError("upload interrupted")
    with svc.db.session() as session:
        assert vault.blobs_of(session, clip_id) == []
    assert svc.blobs.keys() == []


def test_data_key_is_scoped_to_its_site(svc: Services, vault: Vault) -> None:
    blob = store_blob(svc, vault, b"x" * 10)
    with svc.db.session() as session:
        other = create_site(session, svc.audit, ACTOR, "south", "South")
        with pytest.raises(KeyNotFound):
            vault.data_key(session, other.id, blob.clip_id)


def test_key_material_never_reaches_the_blob_store(svc: Services, vault: Vault) -> None:
    blob = store_blob(svc, vault, os.urandom(3 * SEGMENT))
    with svc.db.session() as session:
        row = session.get(DataKey, blob.clip_id)
        assert row is not None and row.wrapped is not None
        data_key = vault.data_key(session, blob.site_id, blob.clip_id)
    stored_keys = svc.blobs.keys()
    assert stored_keys
    for key in stored_keys:
        stored = b"".join(svc.blobs.open(key))
        assert row.wrapped not in stored
        assert data_key not in stored


def test_crypto_shred_makes_a_saved_copy_undecryptable(svc: Services, vault: Vault) -> None:
    data = os.urandom(SEGMENT * 3 + 17)
    blob = store_blob(svc, vault, data)
    neighbour = store_blob(svc, vault, b"another family's clip", slug="south")
    saved_copy = b"".join(svc.blobs.open(blob.store_key))  # e.g. a leaked backup
    with svc.db.session() as session:
        row = session.get(DataKey, blob.clip_id)
        assert row is not None and row.wrapped is not None
        old_wrapped = WrappedKey(row.provider, row.kek_version, row.wrapped)
    if svc.settings.uses_sqlite:
        # Precondition: closing checkpoints the WAL, so the wrapped key is in the file.
        svc.db.dispose()
        assert old_wrapped.blob in sqlite_file(svc).read_bytes()

    with svc.db.session() as session:
        assert vault.shred_key(session, blob.clip_id) is True
        assert vault.shred_key(session, blob.clip_id) is False  # already gone

    with svc.db.session() as session:
        row = session.get(DataKey, blob.clip_id)
        assert row is not None
        assert row.wrapped is None
        assert row.destroyed_at == svc.clock.now()
        stored = session.get(Blob, blob.id)
        assert stored is not None
        with pytest.raises(KeyNotFound):
            vault.data_key(session, blob.site_id, blob.clip_id)
        with pytest.raises(KeyNotFound):
            vault.range_reader(session, stored)
        with pytest.raises(KeyNotFound):
            vault.writer(session, blob.site_id, blob.clip_id, "poster")
        # No key left anywhere in the database opens the saved copy.
        live = session.scalars(select(DataKey).where(DataKey.wrapped.is_not(None))).all()
        assert [k.clip_id for k in live] == [neighbour.clip_id]
        for key_row in live:
            assert key_row.wrapped is not None
            candidate = svc.keys.unwrap(
                WrappedKey(key_row.provider, key_row.kek_version, key_row.wrapped),
                KeyContext(key_row.site_id, key_row.clip_id),
            )
            with pytest.raises(DecryptionError):
                b"".join(iter_decrypt(io.BytesIO(saved_copy), candidate, vault.binding(stored)))
        # The neighbour is untouched.
        other = session.get(Blob, neighbour.id)
        assert other is not None
        assert b"".join(vault.iter_plaintext(session, other)) == b"another family's clip"
    # Even the old wrapped key, replayed onto another clip's context, does not unwrap.
    with pytest.raises(KeyProviderError):
        svc.keys.unwrap(old_wrapped, KeyContext(neighbour.site_id, neighbour.clip_id))

    if svc.settings.uses_sqlite:
        svc.db.dispose()  # checkpoint again: secure_delete must have zeroed the old bytes
        db_file = sqlite_file(svc)
        for path in db_file.parent.glob(db_file.name + "*"):
            assert old_wrapped.blob not in path.read_bytes(), path.name


def sqlite_file(svc: Services) -> Path:
    return Path(svc.settings.database_url.removeprefix("sqlite:///"))


def test_shredded_key_does_not_linger_in_the_sqlite_wal(sqlite_services: Services) -> None:
    svc = sqlite_services
    vault = Vault(blobs=svc.blobs, keys=svc.keys, clock=svc.clock, segment_size=SEGMENT)
    blob = store_blob(svc, vault, b"clip")
    with svc.db.session() as session:
        row = session.get(DataKey, blob.clip_id)
        assert row is not None and row.wrapped is not None
        wrapped = row.wrapped
    with svc.db.session() as session:
        vault.shred_key(session, blob.clip_id)
    # What the destruction path does after committing the shred (storage.destruction).
    svc.db.checkpoint()
    db_file = sqlite_file(svc)
    for path in db_file.parent.glob(db_file.name + "*"):  # while the app still runs
        assert wrapped not in path.read_bytes(), path.name


def test_a_key_row_of_another_clip_is_not_used(svc: Services, vault: Vault) -> None:
    """A caller-supplied key row only saves a query; another clip's row is ignored."""
    first = store_blob(svc, vault, b"first clip " * 50)
    second = store_blob(svc, vault, b"second clip " * 50, slug="south")
    with svc.db.session() as session:
        wrong_row = session.get(DataKey, second.clip_id)
        right = vault.data_key(session, first.site_id, first.clip_id)
        assert vault.data_key(session, first.site_id, first.clip_id, row=wrong_row) == right
        blob = session.get(Blob, first.id)
        assert blob is not None
        reader = vault.range_reader(session, blob, key_row=wrong_row)
        assert reader.read(0, 11) == b"first clip "

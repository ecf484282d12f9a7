"""Helpers for KEK epoch tests: clips with stored blobs, raw copies of wrapped keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from storage.db.footage import Blob
from storage.db.governance import AuditEntry, KekEpoch
from storage.kek import EpochPolicy
from storage.keys import KeyContext, KeyProvider, WrappedKey
from storage.vault import Vault
from tests.unit.storage.vault_helpers import store_blob
from webapp.composition import Services

SEGMENT = 4096
NO_GRACE = EpochPolicy(period=timedelta(days=7), retire_grace=timedelta(0), batch_size=2)


@dataclass(frozen=True)
class Captured:
    """A raw copy of one ``data_keys`` row, as a database backup would hold it."""

    site_id: str
    clip_id: str
    provider: str
    kek_version: str
    wrapped: bytes

    def unwrap_with(self, keys: KeyProvider) -> bytes:
        wrapped = WrappedKey(self.provider, self.kek_version, self.wrapped)
        return keys.unwrap(wrapped, KeyContext(self.site_id, self.clip_id))


def vault_of(svc: Services, keys: KeyProvider | None = None) -> Vault:
    return Vault(blobs=svc.blobs, keys=keys or svc.keys, clock=svc.clock, segment_size=SEGMENT)


def fill(svc: Services, count: int, keys: KeyProvider | None = None) -> dict[str, bytes]:
    """``count`` clips with one blob each; returns blob id -> plaintext."""
    vault = vault_of(svc, keys)
    plain: dict[str, bytes] = {}
    for i in range(count):
        data = os.urandom(SEGMENT + 10 + i)
        plain[store_blob(svc, vault, data, slug=f"site-{i}").id] = data
    return plain


def clip_of(svc: Services, blob_id: str) -> str:
    with svc.db.session() as session:
        blob = session.get(Blob, blob_id)
        assert blob is not None
        return blob.clip_id


def capture(svc: Services, clip_id: str) -> Captured:
    """Copy the row with plain SQL, bypassing the ORM, like a dump of the table."""
    with svc.db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT site_id, clip_id, provider, kek_version, wrapped FROM data_keys "
                "WHERE clip_id = :c"
            ),
            {"c": clip_id},
        ).one()
    return Captured(row[0], row[1], row[2], row[3], bytes(row[4]))


def shred(svc: Services, clip_id: str, keys: KeyProvider | None = None) -> None:
    with svc.db.session() as session:
        assert vault_of(svc, keys).shred_key(session, clip_id)


def epoch_rows(svc: Services) -> list[KekEpoch]:
    with svc.db.session() as session:
        return list(session.scalars(select(KekEpoch).order_by(KekEpoch.number)))


def rotation_audit(svc: Services) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "key.rotate").order_by(AuditEntry.seq)
        )
        return [dict(e.details) for e in entries]


def decrypts(svc: Services, blob_id: str, keys: KeyProvider) -> bytes:
    with svc.db.session() as session:
        blob = session.get(Blob, blob_id)
        assert blob is not None
        return b"".join(vault_of(svc, keys).iter_plaintext(session, blob))

"""Clip registration, site-scoped lookups, export, and `verp ingest`'s file reception."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest import reception
from ingest.clips import (
    clip_summary,
    export_rendition,
    get_clip,
    list_clips,
    register_clip,
    staging_rendition,
)
from ingest.reception import receive_file
from storage.audit import Actor
from storage.clock import FixedClock
from storage.consent import parse_consent
from storage.db.footage import Blob, Clip, Consent, DataKey
from storage.db.governance import AuditEntry, Tombstone
from storage.errors import (
    ConsentError,
    KeyNotFound,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from storage.retention import compute_delete_after
from tests.conftest import START, make_settings
from tests.unit.ingest import reception_helpers as h
from webapp.composition import Services, build_services, initialize


def test_register_clip_creates_row_key_retention_and_audit(services: Services) -> None:
    north = h.site(services, "north")
    facilitator = h.person(services, north, "facilitator")
    clip = h.clip(services, north, facilitator)
    with services.db.session() as session:
        row = session.get(Clip, clip.id)
        assert row is not None
        assert (row.status, row.kind, row.family_code) == ("receiving", "home-visit", "FAM-0042")
        assert row.uploaded_by == facilitator.id
        assert row.created_at == services.clock.now()
        expected = compute_delete_after(
            services.settings.retention,
            site_slug="north",
            kind="home-visit",
            created_at=services.clock.now(),
            purposes=["family-review", "supervision"],
        )
        assert row.delete_after == expected
        # The shared review has not happened yet, so only the hard cap is known.
        assert row.delete_after == services.clock.now() + timedelta(days=365)
        assert len(services.vault.data_key(session, north.id, clip.id)) == 32
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "clip.register")
        ).one()
        assert (entry.target_id, entry.actor_id) == (clip.id, facilitator.id)


def test_site_retention_overrides_apply(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "home",
        **{"retention.sites": {"north": {"home-visit": {"max_days": 30}}}},
    )
    initialize(settings)
    svc = build_services(settings, clock=FixedClock(START))
    try:
        north = h.site(svc, "north")
        clip = h.clip(svc, north)
        assert clip.delete_after == START + timedelta(days=30)
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("role", "kind", "error", "reason"),
    [
        ("dpo", "home-visit", PermissionDenied, "may not upload"),
        ("facilitator", "birthday-party", ValidationError, "kind must be one of"),
    ],
)
def test_register_clip_refusals_store_nothing(
    services: Services, role: str, kind: str, error: type[Exception], reason: str
) -> None:
    north = h.site(services, "north")
    who = h.person(services, north, role)
    with services.db.session() as session:
        row = h.consent(services, session, north)
        consent_id = row.id
    before = h.counts(services)
    with pytest.raises(error, match=reason), services.db.session() as session:
        row = session.get(Consent, consent_id)
        assert row is not None
        register_clip(
            session,
            services.vault,
            services.audit,
            services.settings,
            actor=who.actor,
            site=north,
            kind=kind,
            consent=row,
            uploaded_by=who.id,
        )
    assert h.counts(services) == before


def test_register_clip_refuses_foreign_consent_withdrawn_consent_and_foreign_trainee(
    services: Services,
) -> None:
    north, south = h.site(services, "north"), h.site(services, "south")
    trainee_south = h.person(services, south, "facilitator")
    with services.db.session() as session:
        foreign = h.consent(services, session, south)
        withdrawn = h.consent(services, session, north)
        withdrawn.withdrawn_purposes = list(withdrawn.purposes)
        own = h.consent(services, session, north)
        cases = [
            ({"consent": foreign}, "another site"),
            ({"consent": withdrawn}, "covers no purpose"),
            ({"consent": own, "trainee_id": trainee_south.id}, "not a user of this site"),
            ({"consent": own, "title": "a\nb"}, "one line"),
        ]
        for kwargs, reason in cases:
            with pytest.raises(ValidationError, match=reason):
                register_clip(
                    session,
                    services.vault,
                    services.audit,
                    services.settings,
                    actor=h.ADMIN,
                    site=north,
                    kind="group-delivery",
                    uploaded_by=None,
                    **kwargs,  # type: ignore[arg-type]
                )
        assert session.scalars(select(Clip)).all() == []


def test_lookups_are_scoped_by_site(services: Services) -> None:
    north, south = h.site(services, "north"), h.site(services, "south")
    mine = h.clip(services, north)
    theirs = h.clip(services, south)
    with services.db.session() as session:
        assert get_clip(session, north.id, mine.id).id == mine.id
        with pytest.raises(NotFound):
            get_clip(session, north.id, theirs.id)
        with pytest.raises(NotFound):
            get_clip(session, north.id, "no-such-clip")
        assert [c.id for c in list_clips(session, north.id)] == [mine.id]
        assert {c.id for c in list_clips(session, None)} == {mine.id, theirs.id}
        assert list_clips(session, north.id, status="ready") == []


def _ready_clip(services: Services, slug: str = "north", **consent: object) -> tuple[Clip, bytes]:
    site_row = h.site(services, slug)
    clip = h.clip(services, site_row)
    data = b"playback-bytes-" + os.urandom(5000)
    with services.db.session() as session:
        row = session.get(Clip, clip.id)
        assert row is not None
        if consent:
            stored = session.get(Consent, row.consent_id)
            assert stored is not None
            for key, value in consent.items():
                setattr(stored, key, value)
        services.vault.put_bytes(session, row.site_id, row.id, "playback", data, "video/mp4")
        services.vault.put_bytes(session, row.site_id, row.id, staging_rendition(0), b"orig")
        row.status = "ready"
    return clip, data


def test_export_decrypts_and_audits(services: Services) -> None:
    clip, data = _ready_clip(services)
    supervisor = Actor("user-1", "supervisor", clip.site_id)
    out = io.BytesIO()
    with services.db.session() as session:
        row = get_clip(session, clip.site_id, clip.id)
        size = export_rendition(
            session, services.vault, services.audit, supervisor, row, "playback", out.write
        )
        summary = clip_summary(session, row)
    assert out.getvalue() == data and size == len(data)
    assert summary["renditions"] == ["playback"], "staging parts are not renditions"
    with services.db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "clip.export")).one()
        assert entry.target_id == clip.id
        assert entry.details["rendition"] == "playback"
        assert entry.details["purpose"] == "supervision"


@pytest.mark.parametrize(
    ("actor_role", "rendition", "error"),
    [
        ("dpo", "playback", PermissionDenied),
        ("admin", "playback", PermissionDenied),
        ("supervisor", staging_rendition(0), ValidationError),
        ("supervisor", "poster", NotFound),
        ("other-site", "playback", NotFound),
    ],
)
def test_export_refusals_write_nothing_and_audit_nothing(
    services: Services, actor_role: str, rendition: str, error: type[Exception]
) -> None:
    clip, _ = _ready_clip(services)
    if actor_role == "other-site":
        actor = Actor("user-2", "supervisor", "another-site-id")
    else:
        actor = Actor("user-1", actor_role, clip.site_id)
    out = io.BytesIO()
    with pytest.raises(error), services.db.session() as session:
        row = get_clip(session, None, clip.id)
        export_rendition(session, services.vault, services.audit, actor, row, rendition, out.write)
    assert out.getvalue() == b""
    assert "clip.export" not in h.actions(services)


def test_export_needs_the_consent_to_cover_the_purpose(services: Services) -> None:
    clip, _ = _ready_clip(services, purposes=["family-review"])
    with pytest.raises(ConsentError), services.db.session() as session:
        row = get_clip(session, None, clip.id)
        export_rendition(
            session,
            services.vault,
            services.audit,
            Actor("user-1", "supervisor", clip.site_id),
            row,
            "playback",
            io.BytesIO().write,
        )
    with pytest.raises(ConsentError), services.db.session() as session:
        row = get_clip(session, None, clip.id)
        export_rendition(
            session,
            services.vault,
            services.audit,
            h.ADMIN,
            row,
            "playback",
            io.BytesIO().write,
            purpose="training-events",
        )


def test_export_refuses_a_clip_that_is_not_ready(services: Services) -> None:
    north = h.site(services, "north")
    clip = h.clip(services, north)
    with pytest.raises(NotFound, match="not ready"), services.db.session() as session:
        row = get_clip(session, None, clip.id)
        export_rendition(session, services.vault, services.audit, h.ADMIN, row, "playback", print)


# -- verp ingest's reception ---------------------------------------------------------


def test_receive_file_stages_ciphertext_and_queues(
    sqlite_services: Services, tmp_path: Path
) -> None:
    services = sqlite_services
    h.site(services, "north")
    marker = b"VERP-PLAINTEXT-MARKER-" * 100
    source = tmp_path / "clip.mp4"
    source.write_bytes(marker + os.urandom(300_000) + marker)
    seen: list[int] = []
    clip_id = receive_file(
        services,
        h.ADMIN,
        source,
        site_slug="north",
        kind="home-visit",
        consent=parse_consent(h.consent_data(), now=services.clock.now()),
        on_progress=seen.append,
    )
    assert sum(seen) == source.stat().st_size
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        assert (clip.status, clip.source_size) == ("queued", source.stat().st_size)
        blobs = services.vault.blobs_of(session, clip_id)
        assert [b.rendition for b in blobs] == ["staging-000000"]
        plain = b"".join(services.vault.iter_plaintext(session, blobs[0]))
    assert plain == source.read_bytes()
    for key in services.blobs.keys(""):
        assert b"VERP-PLAINTEXT-MARKER" not in b"".join(services.blobs.open(key))
    assert h.actions(services)[-3:] == ["consent.record", "clip.register", "clip.received"]


@pytest.mark.parametrize(
    ("setup", "reason", "error"),
    [
        ("missing", "cannot read", ValidationError),
        ("empty", "empty", ValidationError),
        ("too-large", "largest accepted upload", ValidationError),
        ("unknown-site", "no site", NotFound),
        ("bad-kind", "kind must be one of", ValidationError),
    ],
)
def test_receive_file_refusals_store_nothing(
    sqlite_services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    reason: str,
    error: type[Exception],
) -> None:
    services = sqlite_services
    h.site(services, "north")
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"" if setup == "empty" else os.urandom(2048))
    if setup == "missing":
        source.unlink()
    if setup == "too-large":
        monkeypatch.setattr(services, "settings", _with_cap(services, 1024))
    before = h.counts(services)
    with pytest.raises(error, match=reason):
        receive_file(
            services,
            h.ADMIN,
            source,
            site_slug="nowhere" if setup == "unknown-site" else "north",
            kind="nonsense" if setup == "bad-kind" else "home-visit",
            consent=parse_consent(h.consent_data(), now=services.clock.now()),
        )
    assert h.counts(services) == before


def test_an_interrupted_ingest_is_discarded(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = sqlite_services
    h.site(services, "north")
    monkeypatch.setattr(reception, "READ_SIZE", 4096)
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(40_000))

    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        receive_file(
            services,
            h.ADMIN,
            source,
            site_slug="north",
            kind="home-visit",
            consent=parse_consent(h.consent_data(), now=services.clock.now()),
            on_progress=interrupt,
        )
    with services.db.session() as session:
        clip = session.scalars(select(Clip)).one()
        assert (clip.status, clip.destroy_reason) == ("destroyed", "upload-abandoned")
        tombstone = session.get(Tombstone, clip.id)
        assert tombstone is not None and tombstone.reason == "upload-abandoned"
        assert session.scalars(select(Blob)).all() == []
        key = session.get(DataKey, clip.id)
        assert key is not None and key.wrapped is None
        with pytest.raises(KeyNotFound):
            services.vault.data_key(session, clip.site_id, clip.id)
    assert services.blobs.keys() == []
    assert h.actions(services)[-3:] == ["clip.destroy_request", "clip.shred", "clip.destroy"]


def _with_cap(services: Services, cap: int) -> object:
    return replace(services.settings, max_upload_bytes=cap)

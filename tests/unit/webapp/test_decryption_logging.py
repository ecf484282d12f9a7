"""Decryption failures in the web app are logged as a fixed line with ids only: no
traceback that tells a failed tag from a short read (docs/format.md section 9)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.clock import FixedClock
from storage.container import HEADER_SIZE, TAG_SIZE
from storage.db.footage import Blob
from tests.conftest import make_settings
from tests.unit.webapp.test_range import SEGMENT, Setup
from tests.webapp_fixtures import PASSWORD, _make_site, post
from webapp import byteranges
from webapp.app import create_app
from webapp.byteranges import StreamAborted
from webapp.composition import build_services, initialize

#: What a log line or a traceback must never show about a decryption failure.
TELLTALES = ("InvalidTag", "cryptography", "short read", "storage/container", "decrypt_into")


@pytest.fixture
def setup(tmp_path: Path, clock: FixedClock, fast_passwords: None) -> Iterator[Setup]:
    """A signed-in facilitator and a playback rendition stored in 4 KiB segments."""
    settings = make_settings(tmp_path / "home", **{"container.segment_size": SEGMENT})
    initialize(settings)
    svc = build_services(settings, clock=clock)
    try:
        site = _make_site(svc, "a")
        app = create_app(services=svc)
        app.config["TESTING"] = True
        client = app.test_client()
        login = {"email": site.emails["facilitator"], "password": PASSWORD}
        assert post(client, "/login", login).status_code == 302
        with svc.db.session() as db:
            blob = db.scalars(
                select(Blob).where(Blob.clip_id == site.clip, Blob.rendition == "playback")
            ).one()
        yield Setup(client, svc, site, b"", blob)
    finally:
        svc.close()


def _tamper(setup: Setup, segment: int) -> None:
    home = setup.services.settings.home
    stored = next(p for p in home.rglob("*") if p.is_file() and setup.blob.id in p.name)
    data = bytearray(stored.read_bytes())
    data[HEADER_SIZE + segment * (SEGMENT + TAG_SIZE) + 3] ^= 0x01
    stored.write_bytes(bytes(data))


def _truncate(setup: Setup, segment: int) -> None:
    home = setup.services.settings.home
    stored = next(p for p in home.rglob("*") if p.is_file() and setup.blob.id in p.name)
    data = stored.read_bytes()
    stored.write_bytes(data[: HEADER_SIZE + segment * (SEGMENT + TAG_SIZE) + 100])


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    text = []
    for record in caplog.records:
        text.append(record.getMessage())
        if record.exc_info:
            text.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            text.append(record.exc_text)
    return "\n".join(text)


@pytest.mark.parametrize("damage", [_tamper, _truncate], ids=["tag", "short"])
def test_a_failure_mid_stream_logs_a_fixed_line_and_no_cause(
    setup: Setup,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    damage: object,
) -> None:
    # One segment per piece: segment 0 is sent before the failure at segment 5.
    monkeypatch.setattr(byteranges, "BATCH_BYTES", SEGMENT)
    damage(setup, 5)  # type: ignore[operator]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StreamAborted) as caught:
        setup.client.get(setup.url).get_data()
    # What the WSGI server will log: the abort, with no chained decryption error.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    shown = "".join(traceback.format_exception(caught.value))
    assert not [t for t in (*TELLTALES, "DecryptionError") if t in shown], shown
    lines = [r for r in caplog.records if r.name == "verp.web" and r.levelno == logging.ERROR]
    assert [r.getMessage() for r in lines] == [
        f"footage stream {byteranges.etag_for(setup.blob.id)} ended early: "
        "the blob could not be decrypted"
    ]
    logged = _everything_logged(caplog)
    assert not [t for t in TELLTALES if t in logged], logged


@pytest.mark.parametrize("damage", [_tamper, _truncate], ids=["tag", "short"])
def test_a_failure_before_the_response_logs_the_class_only(
    setup: Setup, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    damage(setup, 0)  # type: ignore[operator]
    caplog.set_level(logging.DEBUG)
    response = setup.client.get(setup.url, headers={"Range": "bytes=0-9"})
    assert response.status_code == 500
    assert all(not r.exc_info for r in caplog.records)
    logged = _everything_logged(caplog)
    assert "request failed: DecryptionError" in logged
    assert not [t for t in TELLTALES if t in logged], logged

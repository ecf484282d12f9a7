"""Playback from S3 (moto on loopback) seeks in memory: the ciphertext cache serves
repeated and nearby Range requests without a GET, the bytes are the clip's, and a key
shredded by another process stops playback at the next request and empties the cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from config.settings import Settings
from storage.clock import FixedClock
from storage.db.footage import Blob
from tests.unit.webapp.test_playback_cache import Counting
from tests.webapp_fixtures import PASSWORD, SiteWorld, _make_site, post
from webapp.app import create_app
from webapp.composition import Services, build_services, initialize
from webapp.views.media import PLAYBACK


@dataclass
class S3Player:
    client: FlaskClient
    web: Services
    other: Services
    site: SiteWorld
    gets: Counting
    plaintext: bytes

    def get(self, first: int, last: int) -> tuple[int, bytes]:
        url = f"/api/v1/clips/{self.site.clip}/media"
        response = self.client.get(url, headers={"Range": f"bytes={first}-{last}"})
        return response.status_code, response.get_data()


@pytest.fixture
def s3_player(s3_settings: Settings, clock: FixedClock, fast_passwords: None) -> Iterator[S3Player]:
    initialize(s3_settings)
    web = build_services(s3_settings, clock=clock)
    other = build_services(s3_settings, clock=clock)
    try:
        site = _make_site(web, "a")
        with web.db.session() as db:
            blob = db.query(Blob).filter_by(clip_id=site.clip, rendition=PLAYBACK).one()
            plaintext = b"".join(web.vault.iter_plaintext(db, blob))
        gets = Counting(web.vault.blobs, "read_range")
        web.vault.blobs = gets  # type: ignore[assignment]
        app = create_app(services=web)
        app.config["TESTING"] = True
        client = app.test_client()
        login = {"email": site.emails["facilitator"], "password": PASSWORD}
        assert post(client, "/login", login).status_code == 302
        yield S3Player(client, web, other, site, gets, plaintext)
    finally:
        web.close()
        other.close()


def test_seeks_after_the_first_are_served_without_a_get(s3_player: S3Player) -> None:
    cache = s3_player.web.vault.ciphertext_cache
    assert cache is not None  # on by default for an s3:// store
    size = len(s3_player.plaintext)
    assert size > 100
    status, body = s3_player.get(0, 99)
    assert (status, body) == (206, s3_player.plaintext[:100])
    assert s3_player.gets.calls == 1  # the header and the segment came in one chunk
    for first in (size - 1, size // 2, 17, 0):
        status, body = s3_player.get(first, first + 40)
        assert (status, body) == (206, s3_player.plaintext[first : first + 41])
    assert s3_player.gets.calls == 1


def test_key_shredded_in_another_process_stops_playback_and_empties_the_cache(
    s3_player: S3Player,
) -> None:
    cache = s3_player.web.vault.ciphertext_cache
    assert cache is not None
    assert s3_player.get(0, 99)[0] == 206
    assert cache.size_bytes > 0
    with s3_player.other.db.session() as db:
        s3_player.other.vault.shred_key(db, s3_player.site.clip)
    status, body = s3_player.get(0, 99)
    assert status != 206 and s3_player.plaintext[:100] not in body
    assert cache.size_bytes == 0


def test_without_the_cache_every_request_reads_the_store(
    s3_player: S3Player,
) -> None:
    s3_player.web.vault.ciphertext_cache = None
    for first in (0, 10, 20):
        assert s3_player.get(first, first + 10)[0] == 206
    assert s3_player.gets.calls == 4  # the header once (its own cache), then one per request

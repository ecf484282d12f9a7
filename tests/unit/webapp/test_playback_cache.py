"""Playback does no remote call it can avoid, and its caches never outlive a destruction.

A second Services instance stands for another process (another web worker or the
worker running the sweep): it has its own caches, and shares only the database, the
blob store and the key file, as processes do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from storage.audit import Actor
from storage.clock import FixedClock
from storage.db.footage import Clip, DataKey
from storage.destruction import Destroyer
from storage.keys import KeyContext, WrappedKey
from storage.withdrawal import withdraw_consent
from tests.conftest import make_settings
from tests.webapp_fixtures import PASSWORD, SiteWorld, _make_site, post
from webapp.app import create_app
from webapp.composition import Services, build_services, initialize

SEGMENT = 4096


class Counting:
    """Wraps an object and counts calls of one method."""

    def __init__(self, inner: Any, method: str) -> None:
        self.inner, self.method, self.calls = inner, method, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return attr(*args, **kwargs)

        return counted


@dataclass
class Player:
    client: FlaskClient
    web: Services
    other: Services
    site: SiteWorld
    unwraps: Counting
    fetches: Counting

    def get(self, first: int, last: int) -> int:
        url = f"/api/v1/clips/{self.site.clip}/media"
        response = self.client.get(url, headers={"Range": f"bytes={first}-{last}"})
        return response.status_code


@pytest.fixture
def player(tmp_path: Path, clock: FixedClock, fast_passwords: None) -> Iterator[Player]:
    settings = make_settings(tmp_path / "home", **{"container.segment_size": SEGMENT})
    initialize(settings)
    web = build_services(settings, clock=clock)
    other = build_services(settings, clock=clock)
    try:
        site = _make_site(web, "a")
        assert web.vault.key_cache is not None
        web.vault.key_cache.drop(site.clip)  # storing the fixture's blobs cached the key
        unwraps = Counting(web.vault.keys, "unwrap")
        fetches = Counting(web.vault.blobs, "read_range")
        web.vault.keys, web.vault.blobs = unwraps, fetches  # type: ignore[assignment]
        app = create_app(services=web)
        app.config["TESTING"] = True
        client = app.test_client()
        login = {"email": site.emails["facilitator"], "password": PASSWORD}
        assert post(client, "/login", login).status_code == 302
        yield Player(client, web, other, site, unwraps, fetches)
    finally:
        web.close()
        other.close()


def test_one_unwrap_and_one_ranged_read_per_request(player: Player) -> None:
    assert player.get(0, 99) == 206
    assert player.unwraps.calls == 1
    first = player.fetches.calls  # header + covering segments
    for start in (5000, 9000, 100, 12000):
        assert player.get(start, start + 2000) == 206
    assert player.unwraps.calls == 1  # the data key came from the cache
    assert player.fetches.calls - first == 4  # the header too: one ranged read each
    assert first == 2


def test_key_shredded_in_another_process_stops_playback_at_the_next_request(
    player: Player,
) -> None:
    assert player.get(0, 99) == 206
    with player.other.db.session() as db:
        player.other.vault.shred_key(db, player.site.clip)
    assert player.get(0, 99) != 206
    assert player.unwraps.calls == 1  # no unwrap was even attempted from the cache


def test_key_rewrapped_in_another_process_is_unwrapped_again(player: Player) -> None:
    assert player.get(0, 99) == 206
    svc = player.other
    with svc.db.session() as db:
        row = db.get(DataKey, player.site.clip)
        assert row is not None and row.wrapped is not None
        context = KeyContext(row.site_id, row.clip_id)
        new = svc.keys.rewrap(WrappedKey(row.provider, row.kek_version, row.wrapped), context)
        row.wrapped, row.kek_version = new.blob, new.kek_version
    assert player.get(0, 99) == 206
    assert player.unwraps.calls == 2


def test_consent_withdrawn_in_another_process_stops_playback(player: Player) -> None:
    assert player.get(0, 99) == 206
    svc = player.other
    with svc.db.session() as db:
        clip = db.get(Clip, player.site.clip)
        assert clip is not None
        consent_id, site_id = clip.consent_id, clip.site_id
    withdraw_consent(
        Destroyer(svc.db, svc.vault, svc.audit),
        svc.settings.retention,
        Actor.system("test"),
        site_id=site_id,
        consent_id=consent_id,
        purposes=None,
        reason="parent asked",
    )
    # Refused by the purpose check before any key is looked at (403 or 404 by state).
    assert player.get(0, 99) in (403, 404)
    assert player.unwraps.calls == 1

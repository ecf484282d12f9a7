"""DPO pages at scale: the legal-hold picker shows a page of clips (searchable by family
code), never every clip of the site; tombstones come a page at a time."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from storage.db.footage import Clip
from tests.unit.webapp.helpers import text
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services
from webapp.views import dpo

EXTRA = 60


def _options(page: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)"', page)


@pytest.fixture
def many_clips(world: World, services: Services) -> list[str]:
    site = world.sites["a"]
    now = services.clock.now()
    with services.db.session() as db:
        rows = [
            Clip(
                site_id=site.id,
                consent_id=site.consent,
                kind="home-visit",
                family_code=f"FAM-Z{n:03d}",
                title="",
                status="ready",
                created_at=now,
                updated_at=now,
            )
            for n in range(EXTRA)
        ]
        db.add_all(rows)
        db.flush()
        return [r.id for r in rows]


def test_the_hold_picker_is_paginated_and_searchable(
    client: FlaskClient, login_as: LoginAs, world: World, many_clips: list[str]
) -> None:
    login_as(client, "dpo")
    first = text(client.get("/dpo/holds"))
    shown = _options(first)
    assert len(shown) == dpo.PICKER_PAGE
    assert "More clips" in first and "Previous clips" not in first
    second = text(client.get("/dpo/holds?page=2"))
    assert "Previous clips" in second
    assert not set(_options(second)) & set(shown)
    found = text(client.get("/dpo/holds?family=fam-z05"))
    assert len(_options(found)) == 10 and "More clips" not in found  # FAM-Z050..FAM-Z059
    assert set(_options(found)) <= set(many_clips)
    # A family that matches nothing offers nothing; a wildcard is not a family character
    # (dropped), and another site's clips are never offered.
    assert _options(text(client.get("/dpo/holds?family=FAM-Q"))) == []
    assert _options(text(client.get("/dpo/holds?family=FAM-Z05%25"))) == _options(found)
    everything = set()
    for page in range(1, 5):
        everything |= set(_options(text(client.get(f"/dpo/holds?page={page}"))))
    assert world.sites["b"].clip not in everything
    assert set(many_clips) <= everything
    # A clip page's "hold" link keeps its clip selectable even when not on the first page.
    last = many_clips[-1]
    chosen = text(client.get(f"/dpo/holds?clip={last}"))
    assert f'<option value="{last}" selected>' in chosen
    assert _options(text(client.get("/dpo/holds?page=abc"))) == shown  # bad page: the first


def test_tombstones_come_a_page_at_a_time(
    client: FlaskClient, login_as: LoginAs, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(client, "dpo")
    assert "Older" not in text(client.get("/dpo/tombstones"))
    monkeypatch.setattr(dpo, "TOMBSTONE_PAGE", 0)
    page = text(client.get("/dpo/tombstones"))
    assert "Older" in page and "Certificate" not in page

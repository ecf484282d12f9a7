"""The DPO pages about people in Chromium at tablet portrait (820x1180) and landscape
(1180x820), on the demo seed (no media):

* "who watched clip X last month?": from the clip's page, "Who saw it (audit)", then the
  kind "Watching footage" and the month's dates — the answer is a name and a role;
* the audit page finds a user's entries by their email and shows their name;
* the DPO's own refused request for footage is in the log, under "Refused attempts";
* holds, destroyed clips and certificates name people, not ids.

Every page must load without console errors, fit the width and keep touch targets of
44 px (tests/e2e/test_pages.py's checks). Screenshots in test-artifacts/screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.governance import Tombstone
from storage.db.tenancy import User
from tests.e2e.conftest import LiveServer
from tests.e2e.test_pages import CHECKS
from tests.e2e.test_programme import _ready_clip
from webapp.demo import CLIP_FAMILY, NAMES, PASSWORDS, email

pytestmark = pytest.mark.e2e

SIZES = ((820, 1180), (1180, 820))


def sign_in(page: Any, base: str, role: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email(role))
    page.get_by_label("Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/login")


def check(
    page: Any, name: str, screenshot: Callable[[Any, str], Path], problems: list[str]
) -> None:
    width = page.viewport_size["width"]
    screenshot(page, f"dpo-people-{name}-{width}")
    problems += [f"{name}@{width}: {p}" for p in page.evaluate(CHECKS)]


def _seed_watching(server: LiveServer) -> tuple[str, str]:
    """The demo clip of FAM-0042, and a playback by the facilitator 20 days ago (the demo
    has no media, so the watching itself is recorded as the player would record it)."""
    svc = server.services
    clip_id = _ready_clip(server, "home-visit", (CLIP_FAMILY,))
    with svc.db.session() as db:
        clip = db.get(Clip, clip_id)
        user = db.scalar(select(User).where(User.email == email("facilitator")))
        assert clip is not None and user is not None
        watcher = Actor(user.id, user.role, user.site_id)
        entry = svc.audit.append(
            db,
            watcher,
            "clip.play",
            target_type="clip",
            target_id=clip.id,
            site_id=clip.site_id,
            details={"rendition": "playback"},
        )
        entry.at = svc.clock.now() - timedelta(days=20)  # before the chain is read again
        day = entry.at.date().isoformat()
        return clip.id, day


def test_a_dpo_answers_who_watched_a_clip_by_name(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    base = live_server.url
    clip_id, day = _seed_watching(live_server)
    problems: list[str] = []
    failures: list[str] = []
    for width, height in SIZES:
        page = new_page(width, height)
        page.on(
            "response",
            lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        sign_in(page, base, "dpo")
        page.goto(f"{base}/clips/{clip_id}")
        check(page, "clip", screenshot, problems)
        page.get_by_role("link", name="Who saw it (audit)").click()
        page.wait_for_url(f"**/dpo/audit?clip={clip_id}")
        page.get_by_label("Kind of action").select_option(label="Watching footage")
        page.get_by_label("From").fill(day)
        page.get_by_label("To").fill(day)
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**group=footage**")
        table = page.locator("table.table--audit tbody")
        assert table.locator("tr").count() == 1
        row = table.locator("tr").first
        assert f"{NAMES['facilitator']} (Facilitator)" in row.inner_text()
        assert "Watched the home visit clip of family FAM-0042" in row.inner_text()
        check(page, "who-watched", screenshot, problems)

        # By email: the facilitator's entries, with her name.
        page.goto(f"{base}/dpo/audit")
        page.get_by_label("Person (name or email)").fill(email("facilitator"))
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**person=**")
        rows = page.locator("table.table--audit tbody tr")
        assert rows.count() >= 1
        assert f"{NAMES['facilitator']} (Facilitator)" in rows.first.inner_text()
        assert NAMES["dpo"] not in page.locator("table.table--audit tbody").inner_text()
        check(page, "by-email", screenshot, problems)

        # The DPO asks for footage: refused, and the refusal is in the log.
        refused_media = page.request.get(f"{base}/api/v1/clips/{clip_id}/media")
        assert refused_media.status == 403
        page.goto(f"{base}/dpo/audit?group=refused")
        refused = page.locator("table.table--audit tbody").inner_text()
        assert f"{NAMES['dpo']} (Data protection officer)" in refused
        assert "Was refused access to the home visit clip of family FAM-0042" in refused
        check(page, "refused", screenshot, problems)

        page.get_by_role("link", name="Show everything").count()  # no notice without a clip
        page.goto(f"{base}/dpo/audit")
        check(page, "audit", screenshot, problems)
        page.goto(f"{base}/dpo/clips/{clip_id}/hold")
        assert page.get_by_label("Clip", exact=True).input_value() == clip_id
        if width == SIZES[0][0]:  # place it once; both sizes then show who placed it
            page.get_by_label("Reason").fill("complaint 2026-17")
            page.get_by_role("button", name="Place hold").click()
            page.wait_for_url("**/dpo/holds")
        assert f"by {NAMES['dpo']} (data protection officer)" in page.content()
        check(page, "holds", screenshot, problems)
        page.goto(f"{base}/clips/{clip_id}")
        page.get_by_role("link", name="Its consent").click()
        page.wait_for_url("**/dpo/consents/**")
        assert page.get_by_role("link", name=f"Audit trail of family {CLIP_FAMILY}").is_visible()
        check(page, "consent", screenshot, problems)
        page.goto(f"{base}/dpo/tombstones")
        assert "system:" not in page.content()
        check(page, "tombstones", screenshot, problems)
        with live_server.services.db.session() as db:
            tomb = db.scalar(select(Tombstone))
        if tomb is not None:
            page.goto(f"{base}/dpo/tombstones/{tomb.clip_id}")
            check(page, "certificate", screenshot, problems)
        page.goto(f"{base}/dpo")
        check(page, "overview", screenshot, problems)
        sign_out(page)
    assert not page_errors, (page_errors, failures)
    assert not problems, "\n".join(problems)

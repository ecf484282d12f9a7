"""In a real browser at tablet size: consent, resumable upload, processing, library, DPO.

The job queue is in memory (immediate), so the upload's last PATCH processes the clip
inside the live server while the page polls the clip's status.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.media import plain_mp4
from webapp.demo import PASSWORDS, email

pytestmark = pytest.mark.e2e

TABLET_PORTRAIT = (820, 1180)
TABLET_LANDSCAPE = (1024, 768)


def sign_in(page: Any, base: str, role: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email(role))
    page.get_by_label("Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/login")


def test_facilitator_uploads_and_dpo_audits(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    video = plain_mp4(tmp_path / "visit.mp4", seconds=3, faststart=True)
    base = live_server.url
    page = new_page(*TABLET_PORTRAIT)
    sign_in(page, base, "facilitator")
    assert page.url.endswith("/clips")

    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_label("Home visit (talk and listen time)").check()
    page.get_by_label("Family code").fill("FAM-0815")
    page.get_by_label("Parent 1").check()
    page.get_by_label("Baby").check()
    page.get_by_label("Watch the video together with the family (shared review)").check()
    page.get_by_label("Show it in supervision to support the facilitator's practice").check()
    page.get_by_label("Consent form reference").fill("CF-2026-0815")
    screenshot(page, "e2e-upload-consent-820")
    page.get_by_role("button", name="Save consent and continue").click()
    page.wait_for_url("**/upload/*")
    assert page.get_by_text("It is not saved in the tablet's photo gallery").is_visible()
    screenshot(page, "e2e-upload-file-820")

    page.locator("#choose-input").set_input_files(str(video))
    done = page.locator("[data-part=done]")
    done.wait_for(state="visible", timeout=180_000)
    assert "ready" in done.inner_text()
    screenshot(page, "e2e-upload-done-820")

    page.get_by_role("link", name="Clips", exact=True).click()
    card = page.locator(".card", has_text="FAM-0815")
    assert card.get_by_text("Ready").is_visible()
    poster = card.locator("img")
    poster.wait_for()
    # The <img> is in the page before its poster has arrived: wait for it to decode (a
    # poster that never loads times out here).
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=poster.element_handle(), timeout=15_000
    )
    screenshot(page, "e2e-library-820")
    sign_out(page)

    sign_in(page, base, "dpo")
    assert page.url.endswith("/dpo")
    assert page.get_by_role("heading", name="Retention by kind of footage").is_visible()
    assert page.locator(".card img, video").count() == 0  # no footage for a DPO
    screenshot(page, "e2e-dpo-dashboard-820")
    assert not page_errors, page_errors

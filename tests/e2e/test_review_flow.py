"""In a real browser: play, seek, annotate by keyboard, reply, pick a still, show the
shared review, compare coders — and a DPO refused the footage.

Two clips are generated and processed by the real pipeline in the live server: a home
visit uploaded by the demo facilitator, and a group session in which the facilitator is
the trainee, coded by both the supervisor and the trainee.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest.pipeline import process_clip
from ingest.reception import receive_file
from review.annotations import create_annotation
from review.taxonomy import load_registry
from storage.audit import Actor
from storage.consent import ConsentInput
from storage.db.tenancy import User
from tests.e2e.conftest import LiveServer
from tests.e2e.test_pages import CHECKS
from tests.e2e.test_upload_flow import TABLET_LANDSCAPE, TABLET_PORTRAIT, sign_in, sign_out
from tests.media import plain_mp4
from webapp.demo import SITE_SLUG, email

pytestmark = pytest.mark.e2e

SECONDS = 6


@dataclass(frozen=True)
class Clips:
    home: str
    group: str


def _consent(family: str) -> ConsentInput:
    return ConsentInput(
        family=family,
        participants=("parent-1", "infant"),
        purposes=("family-review", "supervision"),
        form_reference=f"CF-{family}",
        taken_by="Sam Facilitator",
        taken_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.fixture
def clips(live_server: LiveServer, tmp_path: Path) -> Clips:
    svc = live_server.services
    with svc.db.session() as db:
        people = {
            role: db.scalars(select(User).where(User.email == email(role))).one()
            for role in ("facilitator", "supervisor")
        }
        facilitator = Actor(people["facilitator"].id, "facilitator", people["facilitator"].site_id)
        supervisor = Actor(people["supervisor"].id, "supervisor", people["supervisor"].site_id)
    video = plain_mp4(
        tmp_path / "visit.mp4", size="480x270", rate="25", seconds=SECONDS, faststart=True
    )
    home = receive_file(
        svc, facilitator, video, site_slug=SITE_SLUG, kind="home-visit",
        consent=_consent("FAM-0815"), title="Second home visit",
    )  # fmt: skip
    group = receive_file(
        svc, supervisor, video, site_slug=SITE_SLUG, kind="group-delivery",
        consent=_consent("GRP-0003"), title="Group session 3", trainee_id=facilitator.id,
    )  # fmt: skip
    for clip_id in (home, group):
        process_clip(svc, clip_id)
    registry = load_registry(svc.settings.taxonomy_dir)
    with svc.db.session() as db:
        for actor, start, end, code in (
            (supervisor, 0, 2500, "models-safe-base"),
            (supervisor, 3000, 4200, "invites-reflection"),
            (facilitator, 0, 2000, "models-safe-base"),
            (facilitator, 4000, 5000, "invites-reflection"),
            (facilitator, 5200, None, "co-facilitation"),
        ):
            create_annotation(
                db, svc.audit, registry, actor, group, start_ms=start, end_ms=end,
                subject="facilitator", scheme_id="group-facilitation", codes=[code],
            )  # fmt: skip
    return Clips(home=home, group=group)


def wait_until(page: Any, function: str, timeout_s: float = 30) -> None:
    """Poll a JS function until it returns true (Playwright's wait_for_function evaluates
    its predicate with eval, which the page's Content-Security-Policy refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(function):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {function}")
        time.sleep(0.1)


VIDEO = "document.getElementById('video')"


def _video_state(page: Any) -> dict[str, float]:
    state: dict[str, float] = page.evaluate(
        "() => { const v = document.getElementById('video');"
        " return {t: v.currentTime, d: v.duration, ready: v.readyState, paused: v.paused}; }"
    )
    return state


def _check_layout(page: Any, where: str) -> list[str]:
    return [f"{where}: {problem}" for problem in page.evaluate(CHECKS)]


def test_review_flow_in_the_browser(
    live_server: LiveServer,
    clips: Clips,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    base = live_server.url
    player = f"{base}/clips/{clips.home}/play"
    problems: list[str] = []

    # -- the facilitator plays, seeks, and codes a cue with one key ------------------------
    page = new_page(*TABLET_PORTRAIT)
    sign_in(page, base, "facilitator")
    page.goto(player)
    wait_until(page, f"() => {VIDEO}.readyState >= 1")
    page.locator(".code[data-code=smiling]").wait_for()  # infant cues open for the baby
    page.locator("#play").click()
    wait_until(page, f"() => {VIDEO}.currentTime > 0.4")
    page.locator("#play").click()
    assert _video_state(page)["paused"]

    scrubber = page.locator("#scrubber")
    box = scrubber.bounding_box()
    assert box is not None
    scrubber.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    wait_until(
        page,
        f"() => {{ const v = {VIDEO}; return !v.seeking && v.readyState >= 2"
        " && Math.abs(v.currentTime - v.duration / 2) < 0.3; }",
    )
    middle = _video_state(page)["t"]

    scrubber.hover(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.locator("#preview").wait_for(state="visible")
    wait_until(page, "() => document.getElementById('preview-thumb').style.backgroundImage"
               ".includes('sprite.jpg')")  # fmt: skip
    screenshot(page, "review-player-scrub-820")

    page.keyboard.press("1")  # infant-cues: Smiling
    thread = page.locator(".thread", has_text="Smiling")
    thread.wait_for()
    seconds = int(middle)
    assert f"0:{seconds:02d}." in thread.locator(".thread__time").inner_text()
    assert page.locator("#editor-status").inner_text().startswith("Added Smiling")

    page.locator("#play").click()  # typing a note pauses playback
    page.locator("#note").fill("Baby turns to the voice")
    assert _video_state(page)["paused"]
    page.locator("#cancel").click()

    page.locator("#add-still").click()
    page.locator(".moment .badge", has_text="Ready").wait_for(timeout=60_000)
    screenshot(page, "review-player-820")
    problems += _check_layout(page, "player@820")

    page.reload()
    page.locator(".thread", has_text="Smiling").wait_for()
    # The coded cue is a tick on the timeline (the still has its own dashed marker).
    marker = "#markers .marker--point:not(.marker--moment)[data-label*='Smiling']"
    wait_until(page, f'() => document.querySelectorAll("{marker}").length === 1')

    page.goto(f"{base}/clips/{clips.home}/shared-review")
    page.locator("#moment-still").wait_for(state="visible")
    assert page.locator("#caption").inner_text() == "What is your baby telling you here?"
    assert "1 of 1" in page.locator("#count").inner_text()
    screenshot(page, "review-shared-820")
    problems += _check_layout(page, "shared-review@820")
    page.goto(f"{base}/clips")
    sign_out(page)

    wide = new_page(*TABLET_LANDSCAPE)
    sign_in(wide, base, "facilitator")
    wide.goto(player)
    wide.locator(".thread", has_text="Smiling").wait_for()
    wait_until(wide, f"() => {VIDEO}.readyState >= 1")
    screenshot(wide, "review-player-1024")
    problems += _check_layout(wide, "player@1024")
    wide.goto(f"{base}/clips/{clips.home}/shared-review")
    wide.locator("#moment-still").wait_for(state="visible")
    screenshot(wide, "review-shared-1024")
    problems += _check_layout(wide, "shared-review@1024")
    wide.goto(f"{base}/clips")
    sign_out(wide)

    # -- the supervisor replies, then compares coding on the group session -------------
    sign_in(page, base, "supervisor")
    page.goto(player)
    thread = page.locator(".thread", has_text="Smiling")
    thread.wait_for()
    thread.get_by_label("Reply").fill("Yes: she turns right towards Mum's voice.")
    thread.get_by_role("button", name="Send reply").click()
    page.locator(".reply", has_text="towards Mum's voice").wait_for()
    page.reload()
    page.locator(".reply", has_text="towards Mum's voice").wait_for()

    page.goto(f"{base}/supervision")
    assert page.get_by_text("Group session 3").is_visible()
    screenshot(page, "review-supervision-queue-820")
    page.goto(f"{base}/supervision/{clips.group}")
    assert page.get_by_text("Cohen's kappa (all codes)").is_visible()
    assert page.locator(".minitimeline svg rect.mt__diff").count() >= 1
    screenshot(page, "review-supervision-820")
    problems += _check_layout(page, "supervision@820")
    sign_out(page)
    sign_in(wide, base, "supervisor")
    wide.goto(f"{base}/supervision/{clips.group}")
    screenshot(wide, "review-supervision-1024")
    problems += _check_layout(wide, "supervision@1024")
    wide.locator("#summary").fill("Clear safe base. Next time: invite reflection earlier.")
    wide.once("dialog", lambda dialog: dialog.accept())
    wide.get_by_role("button", name="Sign off and lock the review").click()
    wide.get_by_text("The review is locked").wait_for()
    sign_out(wide)

    # -- the DPO sees the clip's facts but never its footage ------------------------------
    sign_in(page, base, "dpo")
    page.goto(f"{base}/clips")
    assert page.locator(".card", has_text="FAM-0815").is_visible()
    page.goto(f"{base}/clips/{clips.home}")
    assert page.get_by_text("FAM-0815").first.is_visible()
    for path in (
        f"/api/v1/clips/{clips.home}/media",
        f"/api/v1/clips/{clips.home}/sprite.jpg",
        f"/clips/{clips.home}/poster",
        f"/clips/{clips.home}/play",
    ):
        response = page.request.get(f"{base}{path}")
        assert response.status in (403, 404), path
    sign_out(page)

    assert not page_errors, page_errors
    assert not problems, "\n".join(problems)

"""The player on a tablet (issue 12): video and first code in view at each size, a touch
tap codes the paused frame exactly, a stretch by two taps, and a shape drawn on a frame
survives a reload and shows in the shared review.

Viewport screenshots are saved as test-artifacts/screenshots/player-<w>x<h>.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest.pipeline import process_clip
from ingest.reception import receive_file
from review.annotations import create_annotation
from review.taxonomy import load_registry
from storage.audit import Actor
from storage.db.tenancy import User
from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, LiveServer
from tests.e2e.test_review_flow import VIDEO, _consent, wait_until
from tests.e2e.test_upload_flow import sign_in
from tests.media import plain_mp4
from webapp.demo import SITE_SLUG, email

pytestmark = pytest.mark.e2e

SIZES = [(820, 1180), (1180, 820), (1024, 768)]


@pytest.fixture
def home_clip(live_server: LiveServer, tmp_path: Path) -> str:
    """A processed 6 s home visit at 25 fps with two annotations (a stretch and a point)."""
    svc = live_server.services
    with svc.db.session() as db:
        me = db.scalars(select(User).where(User.email == email("facilitator"))).one()
    actors = {"facilitator": Actor(me.id, "facilitator", me.site_id)}
    video = plain_mp4(tmp_path / "v.mp4", size="480x270", rate="25", seconds=6, faststart=True)
    clip = receive_file(
        svc, actors["facilitator"], video, site_slug=SITE_SLUG, kind="home-visit",
        consent=_consent("FAM-0815"), title="Tablet visit",
    )  # fmt: skip
    process_clip(svc, clip)
    registry = load_registry(svc.settings.taxonomy_dir)
    with svc.db.session() as db:
        for role, start, end, code in (
            ("facilitator", 400, 1600, "mutual-gaze"),
            ("facilitator", 4000, None, "smiling"),
        ):
            create_annotation(
                db, svc.audit, registry, actors[role], clip, start_ms=start, end_ms=end,
                subject="infant", scheme_id="infant-cues", codes=[code],
            )  # fmt: skip
    return clip


@pytest.fixture
def touch_page(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    """``touch_page(w, h)``: a page in a context with a touch screen."""
    contexts: list[Any] = []

    def make(width: int, height: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert CHROMIUM_ARGS  # the shared browser fixture launched Debian's Chromium


def inside(page: Any, selector: str) -> dict[str, Any]:
    """The element's box and whether it lies wholly inside the viewport."""
    box: dict[str, Any] = page.evaluate(
        "(s) => { const r = document.querySelector(s).getBoundingClientRect();"
        " return {top: r.top, left: r.left, bottom: r.bottom, right: r.right,"
        " inside: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight"
        " && r.right <= innerWidth && r.width > 0 && r.height > 0}; }",
        selector,
    )
    return box


def settle(page: Any) -> int:
    """Wait for a paused, painted frame; return the frame number the counter names."""
    wait_until(
        page, f"() => {{ const v = {VIDEO}; return v.paused && !v.seeking && v.readyState >= 2; }}"
    )
    page.wait_for_timeout(300)  # the frame callback of the last seek
    text = page.locator("#frame-counter").inner_text()
    assert text.startswith("frame ")
    return int(text.split()[1])


def listed(page: Any) -> list[dict[str, Any]]:
    url = page.evaluate(
        "() => JSON.parse(document.getElementById('player-config').textContent).urls.annotations"
    )
    result: list[dict[str, Any]] = page.evaluate(
        "(u) => fetch(u, {credentials: 'same-origin'})"
        ".then(r => r.json()).then(b => b.annotations)",
        url,
    )
    return result


FIRST_CODE = ".codes__scheme[open] .code"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_video_and_first_code_are_in_view(
    live_server: LiveServer, home_clip: str, touch_page: Any, page_errors: list[str],
    width: int, height: int,
) -> None:  # fmt: skip
    page = touch_page(width, height)
    sign_in(page, live_server.url, "facilitator")
    page.goto(f"{live_server.url}/clips/{home_clip}/play")
    page.locator(FIRST_CODE).first.wait_for()
    page.locator("#markers .marker").first.wait_for()
    wait_until(page, f"() => {VIDEO}.readyState >= 2")
    assert settle(page) == 0  # the picture before playing is frame 0, as the counter says
    assert inside(page, "#video")["inside"], inside(page, "#video")
    assert inside(page, FIRST_CODE)["inside"], inside(page, FIRST_CODE)
    heights = page.evaluate(
        "() => [...document.querySelectorAll('#markers .marker')]"
        ".map(m => m.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 24
    code_boxes = page.evaluate(
        "() => [...document.querySelectorAll('.codes__scheme[open] .code')]"
        ".map(b => { const r = b.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert min(min(w, h) for w, h in code_boxes) >= 44
    legend = page.locator("#legend").inner_text()
    assert "Mutual gaze" in legend and "Smiling" in legend
    tag = page.locator("#legend .legend__tag").first.inner_text()  # the coder's initials
    assert tag and page.locator("#markers .marker__tag").first.inner_text() == tag
    page.locator("#zoom-in").tap()  # 6 s clip: zoomed to the 4 s floor, around frame 0
    assert page.locator("#zoom-span").inner_text() == "4.0 s shown"
    assert page.locator("#markers .marker").count() == 1  # the point at 4 s is out of view
    page.locator("#zoom-out").tap()
    assert page.locator("#zoom-span").inner_text() == "whole clip"
    assert page.locator("#markers .marker").count() == 2
    if height > width:  # portrait: the video stays pinned while the panel scrolls
        page.mouse.wheel(0, 900)
        page.wait_for_timeout(300)
        assert inside(page, "#video")["inside"]
        page.screenshot(path=str(SCREENSHOTS / f"player-{width}x{height}-scrolled.png"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"player-{width}x{height}.png"))
    assert page_errors == []


def test_touch_codes_the_paused_frame_and_a_stretch(
    live_server: LiveServer, home_clip: str, touch_page: Any, page_errors: list[str]
) -> None:
    page = touch_page(820, 1180)
    sign_in(page, live_server.url, "facilitator")
    page.goto(f"{live_server.url}/clips/{home_clip}/play")
    page.locator(".code[data-code=smiling]").wait_for()
    wait_until(page, f"() => {VIDEO}.readyState >= 2")
    page.evaluate(f"() => {{ {VIDEO}.currentTime = 2.21; }}")  # inside frame 55
    settle(page)
    for _ in range(3):
        page.locator("#frame-fwd").tap()
    frame = settle(page)
    assert frame == 58
    before = {a["id"] for a in listed(page)}
    page.locator(".code[data-code=smiling]").tap()
    page.locator("#palette-status", has_text="Added Smiling").wait_for()
    [new] = [a for a in listed(page) if a["id"] not in before]
    assert new["start_frame"] == frame and new["end_ms"] is None
    assert [c["id"] for c in new["codes"]] == ["smiling"]

    # A stretch: "Tap starts a stretch", tap at frame 58, step 10 frames, tap again.
    page.locator("#interval-mode").tap()
    page.locator(".code[data-code=mutual-gaze]").tap()
    page.locator(".code--armed[data-code=mutual-gaze]").wait_for()
    for _ in range(10):
        page.locator("#frame-fwd").tap()
    end_frame = settle(page)
    page.locator(".code[data-code=mutual-gaze]").tap()
    page.locator("#palette-status", has_text="Added Mutual gaze").wait_for()
    [stretch] = [a for a in listed(page) if a["end_ms"] is not None and a["start_frame"] == frame]
    assert stretch["end_ms"] == page.evaluate(f"() => window.verpPlayer.frameStartMs({end_frame})")
    # A long press arms a code without the tick box; a tap on it ends the stretch.
    page.locator("#interval-mode").tap()  # off again: a plain tap codes one frame
    held_from = settle(page)
    giggling = page.locator(".code[data-code=giggling]")
    gbox = giggling.bounding_box()
    assert gbox is not None
    page.mouse.move(gbox["x"] + gbox["width"] / 2, gbox["y"] + gbox["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(800)
    page.mouse.up()
    page.locator(".code--armed[data-code=giggling]").wait_for()
    assert not [a for a in listed(page) if a["codes"][0]["id"] == "giggling"]  # not yet
    for _ in range(4):
        page.locator("#frame-fwd").tap()
    held_to = settle(page)
    giggling.tap()
    page.locator("#palette-status", has_text="Added Giggling").wait_for()
    [held] = [a for a in listed(page) if a["codes"][0]["id"] == "giggling"]
    assert (held["start_frame"], held["end_frame"]) == (held_from, held_to - 1)  # end exclusive
    # A marker tap seeks to its annotation and shows it in the list.
    marker = page.locator(f"#markers .marker[data-id='{new['id']}']")
    page.locator("#frame-back").tap()
    marker.tap()
    assert settle(page) == frame
    page.locator(f"#a-{new['id']}.thread--current").wait_for()
    assert page_errors == []


def test_a_shape_survives_reload_and_shows_in_the_shared_review(
    live_server: LiveServer, home_clip: str, touch_page: Any, page_errors: list[str]
) -> None:
    page = touch_page(1180, 820)
    sign_in(page, live_server.url, "facilitator")
    player = f"{live_server.url}/clips/{home_clip}/play"
    page.goto(player)
    page.locator(".code[data-code=smiling]").wait_for()
    wait_until(page, f"() => {VIDEO}.readyState >= 2")
    page.evaluate(f"() => {{ {VIDEO}.currentTime = 3.01; }}")  # frame 75
    frame = settle(page)
    page.locator(".draw__tool[data-tool=ellipse]").click()
    page.locator(".draw__colour[data-colour=red]").click()
    box = page.locator("#drawing").bounding_box()
    assert box is not None and box["width"] > 100
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    page.locator("#draw").screenshot(path=str(SCREENSHOTS / "player-draw-tools-1180x820.png"))
    page.locator("#note").fill("Her hand reaches out")
    page.locator("#save").click()
    mine = page.locator(".thread__text", has_text="Her hand reaches out")
    mine.wait_for()
    page.locator("#add-still").click()
    page.locator(".moment .badge", has_text="Ready").wait_for(timeout=60_000)

    page.reload()
    thread = page.locator(".thread", has=page.locator(".thread__text", has_text="Her hand"))
    thread.wait_for()
    assert "Drawing (1)" in thread.inner_text()
    [drawn] = [a for a in listed(page) if a["text"] == "Her hand reaches out"]
    assert drawn["start_frame"] == frame
    [shape] = drawn["shapes"]
    assert shape["kind"] == "ellipse" and shape["colour"] == "red"
    assert abs(shape["points"][0][0] - 0.3) < 0.02 and abs(shape["points"][1][1] - 0.6) < 0.02
    wait_until(page, f"() => {VIDEO}.readyState >= 2")
    thread.locator(".thread__time").click()  # go to the annotation: the circle is drawn
    assert settle(page) == frame
    wait_until(page, "() => document.querySelectorAll('#drawing ellipse').length === 1")
    assert page.locator("#drawing ellipse").get_attribute("stroke") == "#E5383B"
    page.screenshot(path=str(SCREENSHOTS / "player-drawing-1180x820.png"))
    page.locator("#frame-fwd").click()  # the next frame: no longer at the annotation
    wait_until(page, "() => document.querySelectorAll('#drawing ellipse').length === 0")

    page.goto(f"{live_server.url}/clips/{home_clip}/shared-review")
    page.locator("#moment-still").wait_for(state="visible")
    wait_until(page, "() => document.querySelectorAll('#shared-drawing ellipse').length === 1")
    # The overlay is fitted to the still once the image has loaded (its natural size known).
    wait_until(
        page,
        "() => { const i = document.getElementById('moment-still');"
        " return i.complete && i.naturalWidth > 0; }",
    )
    wait_until(
        page,
        "() => { const i = document.getElementById('moment-still');"
        " const r = i.getBoundingClientRect();"
        " const s = Math.min(r.width / i.naturalWidth, r.height / i.naturalHeight);"
        " const g = document.getElementById('shared-drawing').getBoundingClientRect();"
        " return Math.abs(g.width - i.naturalWidth * s) < 2; }",
    )
    svg = page.locator("#shared-drawing").bounding_box()
    img = page.evaluate(
        "() => { const i = document.getElementById('moment-still');"
        " const r = i.getBoundingClientRect();"
        " const s = Math.min(r.width / i.naturalWidth, r.height / i.naturalHeight);"
        " return {w: i.naturalWidth * s, h: i.naturalHeight * s}; }"
    )
    assert (
        svg is not None and abs(svg["width"] - img["w"]) < 2 and abs(svg["height"] - img["h"]) < 2
    )
    page.screenshot(path=str(SCREENSHOTS / "shared-review-drawing-1180x820.png"))
    assert page_errors == []

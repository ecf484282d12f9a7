"""Issue 12 feedback flows at tablet sizes (820x1180 and 1180x820): an interrupted upload
continued from the clip list in a new browser session (resumed at the server's offset),
uploads cancelled during the upload and from the list, the forced password change, and
the notices count after a reply. Screenshots of each page at both sizes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from review.annotations import list_annotations
from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.tenancy import User
from tests.e2e.conftest import CHUNK_BYTES, LiveServer
from tests.e2e.test_resumable_upload import UploadTraffic, start_upload
from tests.e2e.test_review_flow import Clips, clips  # noqa: F401  (fixture)
from tests.e2e.test_upload_flow import sign_in
from tests.media import plain_mp4

pytestmark = pytest.mark.e2e

SIZES = {"portrait": (820, 1180), "landscape": (1180, 820)}
#: Elements people tap; each must be at least 44 px tall and wide.
TAPPABLE = "main a.button, main button, .mainnav__link, main .notice-list__link"


def clip_of(server: LiveServer, family: str) -> Clip:
    with server.services.db.session() as db:
        row = db.scalar(select(Clip).where(Clip.family_code == family))
        assert row is not None
        return row


def small_targets(page: Any) -> list[str]:
    """Visible tap targets smaller than 44 px (by their text)."""
    found: list[str] = page.evaluate(
        "(sel) => Array.from(document.querySelectorAll(sel)).filter(e => {"
        " const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&"
        " (r.height < 44 || r.width < 44); }).map(e => e.textContent.trim().slice(0, 40) +"
        " ' ' + Math.round(e.getBoundingClientRect().width) + 'x' +"
        " Math.round(e.getBoundingClientRect().height))",
        TAPPABLE,
    )
    return found


def no_overflow(page: Any) -> bool:
    return bool(
        page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = plain_mp4(tmp_path / "visit.mp4", size="640x360", seconds=4)
    assert path.stat().st_size > 4 * CHUNK_BYTES
    return path


@pytest.mark.parametrize("size", SIZES)
def test_interrupted_upload_is_continued_from_the_clip_list(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
    video: Path,
    size: str,
) -> None:
    base = live_server.url
    family = f"FAM-07{len(size)}1"
    first = new_page(*SIZES[size])
    traffic = UploadTraffic()
    traffic.block_after = 2  # two chunks arrive, then the connection dies
    first.route("**/api/v1/uploads/**", traffic.handle)
    sign_in(first, base, "facilitator")
    start_upload(first, base, family)
    first.locator("#choose-input").set_input_files(str(video))
    first.locator("[data-field=message]").filter(has_text="connection dropped").wait_for()
    screenshot(first, f"feedback-upload-in-progress-{size}")
    assert small_targets(first) == []
    first.context.close()  # the page (and the browser's saved upload URL) is gone

    page = new_page(*SIZES[size])  # a new session: nothing saved in this browser
    later = UploadTraffic()
    page.route("**/api/v1/uploads/**", later.handle)
    sign_in(page, base, "facilitator")
    page.goto(f"{base}/clips")
    card = page.locator(".card", has_text=family)
    assert "Waiting for the file" in card.inner_text()
    screenshot(page, f"feedback-library-waiting-{size}")
    assert small_targets(page) == [] and no_overflow(page)
    card.get_by_role("link", name=re.compile("Continue upload")).click()
    page.wait_for_url("**/upload/*")
    assert "stopped after" in page.locator("#unfinished").inner_text()
    screenshot(page, f"feedback-upload-continue-{size}")
    page.locator("#choose-input").set_input_files(str(video))
    page.locator("[data-part=done]").wait_for(state="visible", timeout=180_000)
    assert later.count("POST") == 0, "no new upload was created"
    assert later.seen[0] == ("HEAD", None), "it asked the server for the offset first"
    first_patch = next(offset for method, offset in later.seen if method == "PATCH")
    assert first_patch == str(2 * CHUNK_BYTES), "it resumed at the server's offset"
    assert clip_of(live_server, family).source_size == video.stat().st_size
    # Only the connection resets this test caused on purpose.
    assert [e for e in page_errors if "ERR_CONNECTION_RESET" not in e] == []


@pytest.mark.parametrize("size", SIZES)
def test_cancel_during_the_upload_terminates_it(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    video: Path,
    size: str,
) -> None:
    base = live_server.url
    family = f"FAM-08{len(size)}1"
    page = new_page(*SIZES[size])
    traffic = UploadTraffic()
    traffic.block_after = 1
    page.route("**/api/v1/uploads/**", traffic.handle)
    sign_in(page, base, "facilitator")
    start_upload(page, base, family)
    page.locator("#choose-input").set_input_files(str(video))
    page.locator("[data-field=message]").filter(has_text="connection dropped").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the upload").click()
    page.wait_for_url(f"{base}/clips")
    assert traffic.count("DELETE") == 1, "tus termination"
    assert "The upload was cancelled" in page.locator(".flashes").inner_text()
    screenshot(page, f"feedback-upload-cancelled-{size}")
    row = clip_of(live_server, family)
    assert row.status in ("destroyed", "erasure-pending")
    assert row.destroy_reason == "upload-terminated"


def test_cancel_from_the_clip_page(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
) -> None:
    base = live_server.url
    for size, (width, height) in SIZES.items():
        family = f"FAM-09{len(size)}1"
        page = new_page(width, height)
        sign_in(page, base, "facilitator")
        start_upload(page, base, family)  # consent saved, no file chosen
        clip_id = page.url.rsplit("/", 1)[1]
        page.goto(f"{base}/clips/{clip_id}")
        assert "waiting for its video file" in page.locator(".waiting-notice").inner_text()
        screenshot(page, f"feedback-clip-waiting-{size}")
        assert small_targets(page) == [] and no_overflow(page)
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(".waiting-notice").get_by_role("button", name=re.compile("Cancel")).click()
        page.wait_for_url(f"{base}/clips")
        assert clip_of(live_server, family).destroy_reason == "upload-terminated"


@pytest.mark.parametrize("size", SIZES)
def test_forced_password_change_at_first_sign_in(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
    size: str,
) -> None:
    base = live_server.url
    admin = new_page(*SIZES[size])
    sign_in(admin, base, "admin")
    admin.goto(f"{base}/admin/users")
    admin.get_by_label("Name").fill("Robin New")
    admin.get_by_label("Email address").fill(f"robin.{size}@example.org")
    admin.get_by_label("Role", exact=True).select_option("facilitator")
    admin.get_by_role("button", name="Add user").click()
    temporary = admin.locator(".secret").inner_text().strip()
    screenshot(admin, f"feedback-admin-added-{size}")

    page = new_page(*SIZES[size])
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(f"robin.{size}@example.org")
    page.get_by_label("Password").fill(temporary)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/new-password")
    page.goto(f"{base}/clips")  # every page leads back to the form
    page.wait_for_url("**/account/new-password")
    screenshot(page, f"feedback-new-password-{size}")
    assert small_targets(page) == [] and no_overflow(page)
    page.get_by_label("Temporary password", exact=True).fill(temporary)
    page.get_by_label("New password", exact=True).fill("robin's own long passphrase")
    page.get_by_label("New password again").fill("robin's own long passphrase")
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_url(lambda url: "new-password" not in url)
    assert "Your password was changed" in page.locator(".flashes").inner_text()
    with live_server.services.db.session() as db:
        user = db.scalar(select(User).where(User.email == f"robin.{size}@example.org"))
        assert user is not None and not user.must_change_password
    assert page_errors == []


@pytest.mark.parametrize("size", SIZES)
def test_notice_count_appears_after_a_reply(
    live_server: LiveServer,
    clips: Clips,  # noqa: F811
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
    size: str,
) -> None:
    base = live_server.url
    svc = live_server.services
    with svc.db.session() as db:
        facilitator = db.scalar(select(User).where(User.role == "facilitator"))
        assert facilitator is not None
        actor = Actor(facilitator.id, "facilitator", facilitator.site_id)
        mine = [a for a in list_annotations(db, actor, clips.group) if a.author_id == actor.id]
    page = new_page(*SIZES[size])
    sign_in(page, base, "facilitator")
    page.goto(f"{base}/clips")
    assert page.locator(".nav-count").count() == 0
    screenshot(page, f"feedback-library-{size}")
    assert small_targets(page) == [] and no_overflow(page)

    supervisor = new_page(*SIZES[size])
    sign_in(supervisor, base, "supervisor")
    supervisor.goto(f"{base}/clips")
    status = supervisor.evaluate(
        "(url) => window.verp.api(url, {method: 'POST', body: {text: 'Good <b>timing</b> here.'}})"
        ".then(r => r.status)",
        f"/api/v1/annotations/{mine[0].id}/replies",
    )
    assert status == 201

    page.goto(f"{base}/clips")
    assert page.locator(".mainnav .nav-count").inner_text().startswith("1")
    screenshot(page, f"feedback-library-notice-count-{size}")
    page.get_by_role("link", name=re.compile("^Notices")).click()
    item = page.locator(".notice-list__item--new")
    assert "replied to your annotation on Group session 3" in item.inner_text()
    assert "Good <b>timing</b> here." in item.inner_text()  # shown as typed, not as markup
    screenshot(page, f"feedback-notices-{size}")
    assert small_targets(page) == [] and no_overflow(page)
    page.goto(f"{base}/clips")
    assert page.locator(".nav-count").count() == 0, "opening the list marks it seen"

    # The notice opens the player at the annotation: its moment, its thread in view, marked.
    page.goto(f"{base}/notices")
    page.locator(".notice-list__item a").first.click()
    thread = page.locator(f"#a-{mine[0].id}")
    thread.wait_for()
    page.wait_for_function("() => document.querySelector('.thread--opened') !== null")
    assert "thread--opened" in (thread.get_attribute("class") or "")
    assert "Good <b>timing</b> here." in thread.inner_text()
    assert thread.evaluate(
        "(e) => { const r = e.getBoundingClientRect();"
        " const y = Math.min(r.top + 12, window.innerHeight - 1);"
        " return e.contains(document.elementFromPoint(r.left + 12, y)); }"
    ), "the thread's head should be in view, not under the player"
    at_s = page.evaluate("() => document.querySelector('video').currentTime")
    assert abs(at_s * 1000 - mine[0].start_ms) < 100
    shot = screenshot(page, f"feedback-notice-opens-annotation-{size}")
    page.screenshot(path=str(shot.with_name(f"{shot.stem}-viewport.png")))  # what one sees
    # Ctrl+Enter in a reply box sends the reply.
    box = page.locator(f"#reply-{mine[0].id}")
    box.fill("Thank you, noted.")
    box.press("Control+Enter")
    thread.get_by_text("Thank you, noted.").wait_for()
    assert page_errors == []


@pytest.mark.parametrize("size", SIZES)
def test_compare_page_keeps_the_form_and_asks_for_a_summary_first(
    live_server: LiveServer,
    clips: Clips,  # noqa: F811
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
    size: str,
) -> None:
    base = live_server.url
    page = new_page(*SIZES[size])
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/supervision/{clips.group}")
    page.get_by_label("Window (seconds)").fill("two")
    page.get_by_role("button", name="Compare").click()
    error = page.locator("#window-error")
    assert "number of seconds" in error.inner_text()
    assert page.get_by_label("Window (seconds)").input_value() == "two"
    assert page.get_by_label("Summary of the review").is_visible()
    screenshot(page, f"feedback-compare-window-error-{size}")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Sign off and lock the review").click()
    assert dialogs == [], "no confirm for an empty summary"
    missing = page.evaluate("() => document.getElementById('summary').validity.valueMissing")
    assert missing is True
    page.get_by_label("Summary of the review").fill("   ")  # passes `required`, not the server
    page.get_by_role("button", name="Sign off and lock the review").click()
    page.locator("#summary-error").wait_for()
    assert len(dialogs) == 1
    assert "Write a summary" in page.locator("#summary-error").inner_text()
    screenshot(page, f"feedback-compare-summary-error-{size}")
    assert no_overflow(page)
    # The two refused forms come back as 400 pages (as the consent form does); nothing else.
    assert [e for e in page_errors if "status of 400" not in e] == []

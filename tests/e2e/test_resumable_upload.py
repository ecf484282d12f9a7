"""The upload page's tus client survives a dropped connection and a page reload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.db.footage import Clip
from tests.e2e.conftest import CHUNK_BYTES, LiveServer
from tests.e2e.test_upload_flow import TABLET_PORTRAIT, sign_in
from tests.media import plain_mp4

pytestmark = pytest.mark.e2e


def start_upload(page: Any, base: str, family: str) -> None:
    """Fill the consent form and arrive at the file step."""
    page.goto(f"{base}/upload")
    page.get_by_label("Home visit (talk and listen time)").check()
    page.get_by_label("Family code").fill(family)
    page.get_by_label("Parent 1").check()
    page.get_by_label("Watch the video together with the family (shared review)").check()
    page.get_by_label("Consent form reference").fill(f"CF-{family}")
    page.get_by_role("button", name="Save consent and continue").click()
    page.wait_for_url("**/upload/*")


class UploadTraffic:
    """Watches (and on demand breaks) the page's requests to the tus endpoint."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []  # (method, Upload-Offset)
        self.patches = 0
        self.drop_patch_numbers: set[int] = set()
        self.block_after: int | None = None

    def handle(self, route: Any) -> None:
        request = route.request
        offset = request.headers.get("upload-offset")
        self.seen.append((request.method, offset))
        if request.method == "PATCH":
            self.patches += 1
            blocked = self.block_after is not None and self.patches > self.block_after
            if blocked or self.patches in self.drop_patch_numbers:
                route.abort("connectionreset")
                return
        route.continue_()

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.seen if m == method)


def stored_size(server: LiveServer, family: str) -> int | None:
    """The source size recorded for the (only) clip of ``family``."""
    with server.services.db.session() as db:
        clip = db.scalar(select(Clip).where(Clip.family_code == family))
        assert clip is not None and clip.status == "ready"
        return clip.source_size


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = plain_mp4(tmp_path / "visit.mp4", size="640x360", seconds=4)
    assert path.stat().st_size > 4 * CHUNK_BYTES, "the test clip must span several chunks"
    return path


def test_dropped_connection_is_retried(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    video: Path,
) -> None:
    page = new_page(*TABLET_PORTRAIT)
    traffic = UploadTraffic()
    traffic.drop_patch_numbers = {2}
    page.route("**/api/v1/uploads/**", traffic.handle)
    sign_in(page, live_server.url, "facilitator")
    start_upload(page, live_server.url, "FAM-0901")
    page.locator("#choose-input").set_input_files(str(video))
    page.locator("[data-part=done]").wait_for(state="visible", timeout=180_000)
    assert traffic.count("POST") == 1
    assert traffic.count("HEAD") >= 1, "after the drop the client asks for the offset"
    offsets = [int(o) for m, o in traffic.seen if m == "PATCH" and o is not None]
    # chunk 2 was lost on the way: it is sent again from the same offset
    assert offsets[:3] == [0, CHUNK_BYTES, CHUNK_BYTES], offsets
    assert offsets == sorted(offsets)
    assert stored_size(live_server, "FAM-0901") == video.stat().st_size
    screenshot(page, "e2e-upload-after-drop-820")


def test_reload_resumes_where_it_stopped(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    video: Path,
) -> None:
    page = new_page(*TABLET_PORTRAIT)
    traffic = UploadTraffic()
    traffic.block_after = 2  # the connection dies after two chunks
    page.route("**/api/v1/uploads/**", traffic.handle)
    sign_in(page, live_server.url, "facilitator")
    start_upload(page, live_server.url, "FAM-0902")
    page.locator("#choose-input").set_input_files(str(video))
    message = page.locator("[data-field=message]")
    message.filter(has_text="connection dropped").wait_for(timeout=30_000)
    screenshot(page, "e2e-upload-connection-dropped-820")

    page.reload()  # the tablet's browser was closed and opened again
    traffic.block_after = None
    page.locator("#choose-input").set_input_files(str(video))
    page.locator("[data-part=done]").wait_for(state="visible", timeout=180_000)

    assert traffic.count("POST") == 1, "the same upload continued: no second creation"
    after_reload = traffic.seen[traffic.seen.index(("HEAD", None)) :]
    first_patch = next(offset for method, offset in after_reload if method == "PATCH")
    assert first_patch == str(2 * CHUNK_BYTES), "it resumed at the server's offset"
    assert stored_size(live_server, "FAM-0902") == video.stat().st_size

"""The programme pages in Chromium at tablet portrait (820x1180) and landscape (1180x820),
on the demo seed (two groups, co-facilitators, families, supervisions; no media):

* the group page: schedule, families, supervision count with its warning; a facilitator
  of the other group gets 404;
* the upload choice: group -> family (home visit) or session -> families present, with
  the uses the recording may be put to updated as families are ticked;
* a share for supervision with the national team's supervisor, its revocation, and the
  refusal for a group session where a family did not consent to supervision.

Every page must load without console errors (CSP included), fit the width and keep touch
targets of 44 px (tests/e2e/test_pages.py's checks). Screenshots in test-artifacts.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest.clips import register_clip
from storage.audit import Actor
from storage.db.programme import Family, Group, GroupSession
from storage.db.tenancy import Site, User
from storage.programme import Placement, family_consent
from tests.e2e.conftest import LiveServer
from tests.e2e.test_pages import CHECKS
from webapp.demo import PASSWORDS, email
from webapp.demo_programme import PEOPLE

pytestmark = pytest.mark.e2e

SIZES = ((820, 1180), (1180, 820))


def login(page: Any, base: str, who: str) -> None:
    """Sign in as a demo role (``facilitator``...) or a programme person (``fsw_b``...),
    landing on the groups list (the clip library would load posters of other tests' clips)."""
    if who in PEOPLE:
        address, password = PEOPLE[who][0], PEOPLE[who][4]
    else:
        address, password = email(who), PASSWORDS[who]
    page.goto(f"{base}/login?next=/groups")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def check(
    page: Any, name: str, screenshot: Callable[[Any, str], Path], problems: list[str]
) -> None:
    width = page.viewport_size["width"]
    screenshot(page, f"programme-{name}-{width}")
    problems += [f"{name}@{width}: {p}" for p in page.evaluate(CHECKS)]


def ids(server: LiveServer) -> dict[str, str]:
    with server.services.db.session() as db:
        found = {g.code: g.id for g in db.scalars(select(Group))}
        found |= {f.code: f.id for f in db.scalars(select(Family))}
        return found


def test_group_page_and_its_forms(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    base, found = live_server.url, ids(live_server)
    problems: list[str] = []
    for width, height in SIZES:
        page = new_page(width, height)
        login(page, base, "facilitator")
        page.get_by_role("link", name="Groups", exact=True).click()
        check(page, "groups-facilitator", screenshot, problems)
        assert page.get_by_role("link", name="GRP-B").count() == 0
        page.get_by_role("link", name="GRP-A").click()
        assert page.locator("#supervision-count").inner_text().startswith("2 of 3")
        due = page.locator("#due").inner_text()
        assert "Soon: 1 more reflective supervision needed" in due
        assert "Home visit 2: 3 families not filmed yet" in due
        assert page.get_by_role("rowheader", name="FAM-0044").is_visible()
        assert page.get_by_role("rowheader", name="Postnatal session 3").is_visible()
        check(page, "group-facilitator", screenshot, problems)
        page.context.clear_cookies()
        login(page, base, "fsw_b")  # group B's family support worker
        assert page.request.get(f"{base}/groups/{found['GRP-A']}").status == 404
        page.goto(f"{base}/groups")
        assert page.get_by_role("link", name="GRP-A").count() == 0
        page.context.clear_cookies()
        login(page, base, "supervisor")
        page.goto(f"{base}/groups/{found['GRP-A']}")
        assert page.get_by_role("button", name="Save dates").is_visible()
        check(page, "group-supervisor", screenshot, problems)
        page.get_by_role("link", name="Record a supervision").click()
        check(page, "supervision-new", screenshot, problems)
        page.goto(f"{base}/groups")
        page.get_by_role("link", name="Programme report").click()
        assert "Families enrolled" in page.content() and "FAM-00" not in page.content()
        check(page, "report", screenshot, problems)
        page.context.clear_cookies()
        login(page, base, "admin")
        page.goto(f"{base}/groups/new")
        check(page, "group-new", screenshot, problems)
    assert not page_errors, page_errors
    assert not problems, "\n".join(problems)


def test_upload_choice_group_family_session_and_allowed_uses(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    base = live_server.url
    problems: list[str] = []
    supervision = "Show it in supervision to support the facilitator's practice"
    review = "Watch the video together with the family (shared review)"
    for width, height in SIZES:
        page = new_page(width, height)
        login(page, base, "facilitator")
        page.get_by_role("link", name="Upload", exact=True).click()
        check(page, "upload-start", screenshot, problems)
        page.get_by_role("link", name="GRP-A · Tuesday group, Riverside").click()
        allowed = page.locator("#allowed-purposes li:not([hidden])")
        # A group session: only the uses every family in the room agreed to.
        page.get_by_label("Group session (trainee footage)").check()
        assert page.get_by_label("Which group session?").is_visible()
        page.locator("#f-present").get_by_text("FAM-0042").click()
        page.locator("#f-present").get_by_text("FAM-0043").click()
        assert allowed.all_inner_texts() == [review, supervision]
        page.locator("#f-present").get_by_text("FAM-0044").click()
        assert allowed.all_inner_texts() == [review]
        assert not page.get_by_label("Consent form reference").is_visible()
        check(page, "upload-session", screenshot, problems)
        # A home visit: the family, and the uses ticked on its consent form.
        page.get_by_label("Home visit (talk and listen time)").check()
        assert not page.get_by_label("Which group session?").is_visible()
        page.locator("#f-family").get_by_text("FAM-0043").click()
        page.get_by_label("Parent 1").check()
        page.get_by_label(review).check()
        assert allowed.all_inner_texts() == [review]
        check(page, "upload-family", screenshot, problems)
        # Back to the session, and on to step 2 which repeats the allowed uses.
        page.get_by_label("Group session (trainee footage)").check()
        page.get_by_label("Which group session?").select_option(label="Antenatal session 4")
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_url("**/upload/*")
        assert page.locator("#allowed-uses").inner_text() == f"May be used for: {review}."
        check(page, "upload-file", screenshot, problems)
    assert not page_errors, page_errors
    assert not problems, "\n".join(problems)


def _poster() -> bytes:
    """A small grey JPEG standing in for a processed clip's poster."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 36), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _ready_clip(server: LiveServer, kind: str, present: tuple[str, ...]) -> str:
    """A ready clip of group A (no media: the share pages need none); its id."""
    svc = server.services
    found = ids(server)
    with svc.db.session() as db:
        site = db.scalar(select(Site).where(Site.slug == "demo"))
        user = db.scalar(select(User).where(User.email == email("facilitator")))
        assert site is not None and user is not None
        consent = family_consent(db, found[present[0]])
        assert consent is not None
        if kind == "home-visit":
            placement = Placement(group_id=found["GRP-A"], family_id=found[present[0]])
        else:
            meeting = db.scalar(
                select(GroupSession.id).where(
                    GroupSession.group_id == found["GRP-A"], GroupSession.kind == "antenatal",
                    GroupSession.number == 6,
                )
            )  # fmt: skip
            assert meeting is not None
            placement = Placement(
                group_id=found["GRP-A"], session_id=meeting,
                present_family_ids=tuple(found[c] for c in present),
            )  # fmt: skip
        clip = register_clip(
            db, svc.vault, svc.audit, svc.settings, actor=Actor(user.id, "facilitator", site.id),
            site=site, kind=kind, consent=consent, uploaded_by=user.id, placement=placement,
            title=f"{kind} for the share test",
        )  # fmt: skip
        clip.status = "ready"
        svc.vault.put_bytes(db, site.id, clip.id, "poster", _poster(), "image/jpeg")
        return clip.id


def test_share_for_supervision_and_refusal(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    base = live_server.url
    problems: list[str] = []
    visit = _ready_clip(live_server, "home-visit", ("FAM-0042",))
    session = _ready_clip(live_server, "group-delivery", ("FAM-0043", "FAM-0042", "FAM-0044"))
    national = PEOPLE["national"][0]
    for width, height in SIZES:
        page = new_page(width, height)
        login(page, base, "supervisor")
        page.goto(f"{base}/clips/{visit}")
        page.get_by_role("link", name="Share for supervision").click()
        page.get_by_label("Supervisor's email address").fill(national)
        page.get_by_label("For how many days (1 to 90)").fill("14")
        page.get_by_label("Why (one line)").fill("Final half day of training <b>review</b>")
        page.get_by_role("button", name="Share for supervision").click()
        page.get_by_text(f"Shared with {national} for 14 days.").wait_for()
        row = page.locator("#shares-h + .table-wrap tbody tr").first
        assert national in row.inner_text() and "active" in row.inner_text()
        assert "<b>review</b>" in row.inner_text()  # escaped, shown as typed
        check(page, "share", screenshot, problems)
        page.on("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        page.get_by_text("The share was revoked").wait_for()
        assert "revoked" in page.locator("#shares-h + .table-wrap tbody tr").first.inner_text()
        # A group session with a family that did not agree to supervision.
        page.goto(f"{base}/clips/{session}/shares")
        assert "not everyone filmed has consented" in page.locator("#share-refused").inner_text()
        assert page.get_by_label("Supervisor's email address").count() == 0
        assert "no supervision" in page.locator("#consent-h + p + ul").inner_text()
        check(page, "share-refused", screenshot, problems)
        page.context.clear_cookies()
        login(page, base, "dpo")
        page.goto(f"{base}/dpo")
        assert national in page.locator("#shares-h").locator("..").inner_text()
        check(page, "dpo-shares", screenshot, problems)
    assert not page_errors, page_errors
    assert not problems, "\n".join(problems)

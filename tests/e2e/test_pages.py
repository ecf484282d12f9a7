"""Every page of the shell, as each role, at tablet portrait (820 px) and landscape (1024 px).

Each page must load without console errors (a Content-Security-Policy violation is one),
fit the width without sideways scrolling (tables included), give every form control a label
and every control a touch target of at least 44 px. Screenshots land in
test-artifacts/screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.db.footage import Clip, Consent
from storage.db.governance import Tombstone
from tests.e2e.conftest import LiveServer
from tests.e2e.test_upload_flow import sign_in, sign_out
from webapp.demo import seed

pytestmark = pytest.mark.e2e

WIDTHS = ((820, 1180), (1024, 768))

#: JS run in the page: problems with widths, labels and touch targets.
CHECKS = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) {
    problems.push(`page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  }
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      problems.push(`a table needs sideways scrolling: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
    }
  }
  const visible = (el) => el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== "hidden";
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.classList.contains("file-input")) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label");
    if (!named) problems.push(`control without a label: ${el.outerHTML.slice(0, 80)}`);
  }
  const targets = "button, .button, input:not([type=hidden]), select, .mainnav__link, .subnav a";
  for (const el of document.querySelectorAll(targets)) {
    if (!visible(el) || el.classList.contains("file-input")) continue;
    let box = el.getBoundingClientRect();
    if ((el.type === "checkbox" || el.type === "radio") && el.labels && el.labels.length) {
      box = el.labels[0].getBoundingClientRect();  // the label is part of the target
    }
    if (box.height < 43.5) {
      const what = el.outerHTML.slice(0, 80);
      problems.push(`small touch target (${Math.round(box.height)}px): ${what}`);
    }
  }
  return problems;
}"""


def ids(server: LiveServer) -> dict[str, str]:
    with server.services.db.session() as db:
        clip = db.scalar(select(Clip).where(Clip.status == "ready"))
        consent = db.scalar(select(Consent).order_by(Consent.created_at))
        tomb = db.scalar(select(Tombstone))
        assert clip is not None and consent is not None and tomb is not None
        return {"clip": clip.id, "consent": consent.id, "tomb": tomb.clip_id}


def pages_of(role: str, found: dict[str, str]) -> list[tuple[str, str]]:
    clip, consent, tomb = found["clip"], found["consent"], found["tomb"]
    return {
        "facilitator": [
            ("library", "/clips"),
            ("clip", f"/clips/{clip}"),
            ("upload-consent", "/upload"),
            ("account", "/account"),
            ("account-totp", "/account/totp"),
        ],
        "supervisor": [("library", "/clips"), ("clip", f"/clips/{clip}")],
        "dpo": [
            ("dpo-overview", "/dpo"),
            ("dpo-holds", "/dpo/holds"),
            ("dpo-consents", "/dpo/consents"),
            ("dpo-consent", f"/dpo/consents/{consent}"),
            ("dpo-tombstones", "/dpo/tombstones"),
            ("dpo-certificate", f"/dpo/tombstones/{tomb}"),
            ("dpo-audit", "/dpo/audit"),
            ("dpo-verify", "/dpo/audit/verify"),
            ("library", "/clips"),
            ("clip", f"/clips/{clip}"),
        ],
        "admin": [("admin-users", "/admin/users"), ("dpo-overview", "/dpo")],
    }[role]


def test_every_page_at_tablet_widths(
    live_server: LiveServer,
    new_page: Callable[[int, int], Any],
    screenshot: Callable[[Any, str], Path],
    page_errors: list[str],
) -> None:
    seed(live_server.services, say=lambda _line: None)  # a processed clip and a tombstone
    found = ids(live_server)
    problems: list[str] = []
    for width, height in WIDTHS:
        page = new_page(width, height)
        page.goto(f"{live_server.url}/login")
        screenshot(page, f"page-login-{width}")
        problems += [f"login@{width}: {p}" for p in page.evaluate(CHECKS)]
        for role in ("facilitator", "supervisor", "dpo", "admin"):
            sign_in(page, live_server.url, role)
            for name, path in pages_of(role, found):
                response = page.goto(f"{live_server.url}{path}")
                assert response is not None and response.status == 200, (role, path)
                screenshot(page, f"page-{role}-{name}-{width}")
                problems += [f"{role} {path}@{width}: {p}" for p in page.evaluate(CHECKS)]
            sign_out(page)
    assert not page_errors, page_errors
    assert not problems, "\n".join(problems)

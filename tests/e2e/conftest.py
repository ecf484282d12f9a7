"""Browser-test fixtures: the real app on a live local server, and Debian's Chromium.

* ``live_server`` — the app (SQLite, plain-http cookies, in-memory job queue so a finished
  upload is processed inside the request, 32 KiB upload chunks) under werkzeug's threaded server on
  127.0.0.1:<free port>, seeded with the demo accounts (``webapp.demo``, no media);
* ``browser`` — Chromium from ``/usr/bin/chromium`` driven by Playwright. Missing
  Chromium fails the tests (`make test` installs it through `make tools`);
* ``new_page(width, height)`` — a fresh browser context and page; every console error
  (a CSP violation included) is collected in ``page_errors`` and fails the test;
* ``screenshot(page, name)`` — saves ``test-artifacts/screenshots/<name>.png``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_settings
from webapp.app import create_app
from webapp.composition import Services, build_services, initialize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
#: Small tus chunks, so a test clip of a few hundred KiB takes several PATCH requests.
CHUNK_BYTES = 32 * 1024
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@dataclass
class LiveServer:
    url: str
    services: Services


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real app on a local port (see module docstring); stopped after the test."""
    from webapp.demo import seed
    from webapp.demo_programme import NATIONAL_SLUG

    settings = make_settings(
        tmp_path / "home",
        **{
            "queue.url": "memory://",
            "web.secure_cookies": False,
            "sharing.receiving_sites": [NATIONAL_SLUG],  # as `verp demo` sets it
        },
    )
    initialize(settings)
    services = build_services(settings)
    seed(services, with_media=False, say=lambda _line: None)
    app = create_app(services=services, config={"VERP_UPLOAD_CHUNK_BYTES": CHUNK_BYTES})
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", services=services)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        services.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (the tests fail without it)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (run `make tools`)"
        pytest.fail(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def new_page(browser: Any, page_errors: list[str]) -> Iterator[Callable[[int, int], Any]]:
    """``new_page(width, height)``: a page in a fresh context; console errors are kept."""
    contexts: list[Any] = []

    def make(width: int, height: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on(
            "console",
            lambda msg: page_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

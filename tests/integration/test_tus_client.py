"""The tus endpoint on a real HTTP server, driven by the standard Python tus client
(tuspy): whole uploads, checksummed chunks, and resumption after an interruption —
both a client that stopped and a connection that died in the middle of a PATCH."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask, g, request
from sqlalchemy import select
from tusclient.client import TusClient
from werkzeug.serving import BaseWSGIServer, make_server

from storage.db.footage import Clip, Upload
from storage.db.tenancy import Site
from tests.unit.ingest import reception_helpers as h
from webapp.composition import Services
from webapp.context import EXTENSION, CurrentUser
from webapp.errors import register_error_handlers
from webapp.tus import bp

MARKER = b"VERP-TUS-CLIENT-MARKER-"


@dataclass
class Server:
    services: Services
    base: str
    user: h.Person

    @property
    def endpoint(self) -> str:
        return f"{self.base}/api/v1/uploads/"

    def client(self) -> TusClient:
        return TusClient(self.endpoint, headers={"X-Test-User": self.user.id})


def _app(services: Services, users: dict[str, h.Person]) -> Flask:
    app = Flask("tus-integration")
    app.extensions[EXTENSION] = services
    register_error_handlers(app)
    app.register_blueprint(bp)

    @app.before_request
    def sign_in() -> None:  # the web app's login is not under test here
        person = users.get(request.headers.get("X-Test-User", ""))
        g.user = None
        if person is not None:
            g.user = CurrentUser(
                id=person.id,
                email="f@example.org",
                display_name="f",
                role=person.role,
                site_id=person.site_id,
                site_slug=person.site_slug,
                site_name=person.site_slug,
                totp_enabled=False,
            )

    return app


@pytest.fixture
def server(sqlite_services: Services) -> Iterator[Server]:
    north = h.site(sqlite_services, "north")
    user = h.person(sqlite_services, north, "facilitator")
    httpd: BaseWSGIServer = make_server(
        "127.0.0.1", 0, _app(sqlite_services, {user.id: user}), threaded=True
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(sqlite_services, f"http://127.0.0.1:{httpd.server_port}", user)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def _file(size: int) -> bytes:
    return MARKER + os.urandom(size) + MARKER


def _metadata() -> dict[str, str]:
    return {"kind": "home-visit", "consent": json.dumps(h.consent_data()), "filename": "x.mp4"}


def _staged(services: Services, clip_id: str) -> bytes:
    with services.db.session() as session:
        parts = sorted(services.vault.blobs_of(session, clip_id), key=lambda b: b.rendition)
        return b"".join(b"".join(services.vault.iter_plaintext(session, p)) for p in parts)


def _the_clip(services: Services) -> Clip:
    with services.db.session() as session:
        return session.scalars(select(Clip)).one()


def _assert_received(services: Services, data: bytes) -> None:
    clip = _the_clip(services)
    assert (clip.status, clip.source_size) == ("queued", len(data))
    assert _staged(services, clip.id) == data
    for key in services.blobs.keys(""):
        assert MARKER not in b"".join(services.blobs.open(key)), "staging is ciphertext"


def test_tuspy_uploads_in_checksummed_chunks(server: Server) -> None:
    data = _file(700_000)
    uploader = server.client().uploader(
        file_stream=io.BytesIO(data),
        chunk_size=256 * 1024,
        metadata=_metadata(),
        upload_checksum=True,
    )
    uploader.upload()
    assert uploader.offset == len(data)
    _assert_received(server.services, data)
    with server.services.db.session() as session:
        assert session.scalars(select(Upload)).one().parts == 3


def test_tuspy_resumes_an_upload_it_stopped(server: Server) -> None:
    data = _file(500_000)
    first = server.client().uploader(
        file_stream=io.BytesIO(data), chunk_size=100_000, metadata=_metadata()
    )
    first.upload(stop_at=200_000)
    assert first.url is not None
    # A new client (the tablet app restarted) resumes from the server's offset.
    second = server.client().uploader(
        file_stream=io.BytesIO(data), chunk_size=100_000, url=first.url
    )
    assert second.offset == first.offset == 200_000
    second.upload()
    _assert_received(server.services, data)


def test_tuspy_resumes_after_the_connection_died_mid_patch(server: Server) -> None:
    data = _file(400_000)
    uploader = server.client().uploader(
        file_stream=io.BytesIO(data), chunk_size=len(data), metadata=_metadata()
    )
    url = uploader.create_url()
    sent = 150_001
    _patch_and_drop(server, url, data[:sent], announced=len(data))
    _wait_for_offset(server, url, sent)
    resumed = server.client().uploader(file_stream=io.BytesIO(data), chunk_size=len(data), url=url)
    assert resumed.offset == sent
    resumed.upload()
    _assert_received(server.services, data)


def test_tuspy_uploads_to_a_clip_registered_beforehand(server: Server) -> None:
    clip = h.clip(server.services, _north(server), server.user)
    data = _file(50_000)
    uploader = server.client().uploader(
        file_stream=io.BytesIO(data), chunk_size=20_000, metadata={"clip": clip.id}
    )
    uploader.upload()
    _assert_received(server.services, data)


def _north(server: Server) -> Site:
    with server.services.db.session() as session:
        site = session.get(Site, server.user.site_id)
        assert site is not None
        return site


def _patch_and_drop(server: Server, url: str, body: bytes, *, announced: int) -> None:
    """Send a PATCH announcing ``announced`` bytes, send only ``body``, then hang up."""
    path = url.removeprefix(server.base)
    host, port = server.base.removeprefix("http://").split(":")
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
        f"X-Test-User: {server.user.id}\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + body)
        time.sleep(0.3)  # let the server read what arrived before the line drops


def _wait_for_offset(server: Server, url: str, expected: int, timeout: float = 20.0) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    offset = -1
    while time.monotonic() < deadline:
        offset = client.uploader(file_stream=io.BytesIO(b"x"), url=url).get_offset()
        if offset == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"server offset stayed {offset}, expected {expected}")

"""tus 1.0.0 conformance of /api/v1/uploads/ (core, creation, termination, checksum,
expiration), resumption after a dropped connection, and ciphertext-only staging."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask, g, request
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from ingest.tus import append_chunk
from ingest.upload_expiry import expire_uploads
from storage.clock import FixedClock
from storage.db.footage import Blob, Clip, Consent, Upload
from storage.db.governance import Tombstone
from storage.errors import NotFound
from tests.unit.ingest import reception_helpers as h
from webapp.composition import Services
from webapp.context import EXTENSION, CurrentUser
from webapp.errors import register_error_handlers
from webapp.tus import bp

ROOT = "/api/v1/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}
MARKER = b"VERP-PLAINTEXT-MARKER-"


class World:
    """A site with a facilitator, plus a second site, behind a tiny app that takes the
    signed-in user from an ``X-Test-User`` header (login is the web app's concern)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.north = h.site(services, "north")
        self.south = h.site(services, "south")
        self.users = {
            "fac": h.person(services, self.north, "facilitator", "fac"),
            "fac2": h.person(services, self.north, "facilitator", "fac2"),
            "dpo": h.person(services, self.north, "dpo"),
            "south": h.person(services, self.south, "facilitator", "southfac"),
        }
        app = Flask("tus-test")
        app.config["TESTING"] = True
        app.extensions[EXTENSION] = services
        register_error_handlers(app)
        app.register_blueprint(bp)
        app.before_request(self._sign_in)
        self.client: FlaskClient = app.test_client()

    def _sign_in(self) -> None:
        person = self.users.get(request.headers.get("X-Test-User", ""))
        g.user = (
            None
            if person is None
            else CurrentUser(
                id=person.id,
                email=f"{person.id}@example.org",
                display_name="x",
                role=person.role,
                site_id=person.site_id,
                site_slug=person.site_slug,
                site_name=person.site_slug,
                totp_enabled=False,
            )
        )

    def headers(self, user: str = "fac", **extra: str) -> dict[str, str]:
        return {**TUS, "X-Test-User": user, **{k.replace("_", "-"): v for k, v in extra.items()}}

    def create(
        self, length: int, user: str = "fac", meta: dict[str, str] | None = None, **extra: str
    ) -> TestResponse:
        meta = (
            {"kind": "home-visit", "consent": json.dumps(h.consent_data())}
            if meta is None
            else meta
        )
        encoded = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in meta.items()
        )
        headers = self.headers(user, Upload_Length=str(length), Upload_Metadata=encoded, **extra)
        return self.client.post(ROOT, headers=headers)

    def patch(
        self, url: str, body: bytes, offset: int, user: str = "fac", **extra: str
    ) -> TestResponse:
        headers = self.headers(
            user,
            Upload_Offset=str(offset),
            Content_Type="application/offset+octet-stream",
            **extra,
        )
        return self.client.patch(url, data=body, headers=headers)

    def head(self, url: str, user: str = "fac") -> TestResponse:
        return self.client.head(url, headers=self.headers(user))

    def queued_jobs(self) -> list[str]:
        return [str(t.args[0]) for t in self.services.queue.huey.pending()]


@pytest.fixture
def world(services: Services) -> Iterator[World]:
    yield World(services)


def _payload(size: int = 200_000) -> bytes:
    return MARKER + os.urandom(size) + MARKER


def _stored_plaintext(services: Services, clip_id: str) -> bytes:
    with services.db.session() as session:
        parts = sorted(
            (b for b in services.vault.blobs_of(session, clip_id) if b.rendition.startswith("st")),
            key=lambda b: b.rendition,
        )
        return b"".join(b"".join(services.vault.iter_plaintext(session, p)) for p in parts)


def _assert_ciphertext_only(services: Services) -> None:
    for key in services.blobs.keys(""):
        assert MARKER not in b"".join(services.blobs.open(key)), key


# -- discovery and version ---------------------------------------------------------------


def test_options_advertises_the_server(world: World) -> None:
    response = world.client.options(ROOT, headers={"X-Test-User": "fac"})
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "checksum",
        "expiration",
    }
    assert response.headers["Tus-Max-Size"] == str(world.services.settings.max_upload_bytes)
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5"}


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0"])
def test_a_missing_or_unsupported_version_is_412(world: World, version: str | None) -> None:
    before = h.counts(world.services)
    headers = world.headers(Upload_Length="100")
    if version is None:
        del headers["Tus-Resumable"]
    else:
        headers["Tus-Resumable"] = version
    response = world.client.post(ROOT, headers=headers)
    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    assert h.counts(world.services) == before


# -- creation ----------------------------------------------------------------------------


def test_creation_with_consent_metadata(world: World) -> None:
    response = world.create(
        1000,
        meta={
            "kind": "group-delivery",
            "consent": json.dumps(h.consent_data()),
            "filename": "Smith family visit.mp4",
            "filetype": "video/mp4",
        },
    )
    assert response.status_code == 201
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Location"].startswith(ROOT)
    assert "Upload-Expires" in response.headers
    clip_id = response.headers["Verp-Clip-Id"]
    with world.services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        assert (clip.status, clip.kind, clip.site_id) == (
            "receiving",
            "group-delivery",
            world.north.id,
        )
        upload = session.scalars(select(Upload)).one()
        assert (upload.length, upload.offset, upload.user_id) == (1000, 0, world.users["fac"].id)
        assert upload.meta == {"filetype": "video/mp4"}
        assert "Smith" not in json.dumps(upload.meta), "file names are never stored"
    assert h.actions(world.services)[-3:] == ["consent.record", "clip.register", "upload.create"]


def test_creation_for_a_clip_registered_by_the_web_app(world: World) -> None:
    clip = h.clip(world.services, world.north, world.users["fac"])
    response = world.create(500, meta={"clip": clip.id})
    assert response.status_code == 201
    assert response.headers["Verp-Clip-Id"] == clip.id
    # Not someone else's clip, nor another site's: both look absent.
    assert world.create(500, user="fac2", meta={"clip": clip.id}).status_code == 404
    assert world.create(500, user="south", meta={"clip": clip.id}).status_code == 404


@pytest.mark.parametrize(
    ("user", "length", "meta", "status", "reason"),
    [
        ("nobody", "100", None, 401, ""),
        ("dpo", "100", None, 403, ""),
        ("fac", None, None, 400, "Upload-Length is required"),
        ("fac", "-5", None, 400, "non-negative whole number"),
        ("fac", "0", None, 400, "empty"),
        ("fac", str(2**40), None, 413, "exceeds the cap"),
        ("fac", "100", {"kind": "home-visit"}, 400, "'kind' and 'consent'"),
        ("fac", "100", {"kind": "home-visit", "consent": "[]"}, 400, "expected a JSON object"),
        ("fac", "100", {"kind": "home-visit", "consent": "{"}, 400, "not valid JSON"),
        ("fac", "100", {"kind": "nonsense", "consent": json.dumps(h.consent_data())}, 400, "kind"),
        (
            "fac",
            "100",
            {"kind": "home-visit", "consent": json.dumps(h.consent_data(purposes=[]))},
            400,
            "covers no purpose",
        ),
        (
            "fac",
            "100",
            {"kind": "home-visit", "consent": json.dumps(h.consent_data(purposes=["ads"]))},
            400,
            "unknown purpose",
        ),
        (
            "fac",
            "100",
            {"kind": "home-visit", "consent": json.dumps(h.consent_data(taken_at="soon"))},
            400,
            "ISO 8601",
        ),
        ("fac", "100", {"clip": "no-such-clip"}, 404, ""),
    ],
)
def test_creation_refusals_store_nothing(
    world: World,
    user: str,
    length: str | None,
    meta: dict[str, str] | None,
    status: int,
    reason: str,
) -> None:
    before = h.counts(world.services)
    meta = {"kind": "home-visit", "consent": json.dumps(h.consent_data())} if meta is None else meta
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    headers = world.headers(user, Upload_Metadata=encoded)
    if length is not None:
        headers["Upload-Length"] = length
    response = world.client.post(ROOT, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert reason in response.get_data(as_text=True)
    assert h.counts(world.services) == before


def test_malformed_metadata_is_400(world: World) -> None:
    for header in ("kind !!notbase64", "kind a2luZA==,kind a2luZA==", "a b c"):
        response = world.client.post(
            ROOT, headers=world.headers(Upload_Length="10", Upload_Metadata=header)
        )
        assert response.status_code == 400, header


# -- HEAD and PATCH ----------------------------------------------------------------------


def test_upload_in_two_patches_then_queued_and_ciphertext_only(world: World) -> None:
    data = _payload()
    created = world.create(len(data))
    url, clip_id = created.headers["Location"], created.headers["Verp-Clip-Id"]
    head = world.head(url)
    assert head.status_code == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", str(len(data)))
    assert head.headers["Cache-Control"] == "no-store"
    half = len(data) // 2
    first = world.patch(url, data[:half], 0)
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == str(half)
    assert "Upload-Expires" in first.headers
    assert world.head(url).headers["Upload-Offset"] == str(half)
    assert world.queued_jobs() == []
    last = world.patch(url, data[half:], half)
    assert (last.status_code, last.headers["Upload-Offset"]) == (204, str(len(data)))
    assert "Upload-Expires" not in last.headers
    with world.services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None and (clip.status, clip.source_size) == ("queued", len(data))
        upload = session.scalars(select(Upload)).one()
        assert (upload.parts, upload.completed_at) == (2, world.services.clock.now())
    assert world.queued_jobs() == [clip_id]
    assert _stored_plaintext(world.services, clip_id) == data
    _assert_ciphertext_only(world.services)
    # A finished upload still answers HEAD (clients check before resuming).
    assert world.head(url).headers["Upload-Offset"] == str(len(data))


def test_offset_mismatch_is_409_and_changes_nothing(world: World) -> None:
    url = world.create(100).headers["Location"]
    assert world.patch(url, b"x" * 10, 0).status_code == 204
    before = h.counts(world.services)
    for offset in (0, 5, 20):
        assert world.patch(url, b"y" * 10, offset).status_code == 409
    assert h.counts(world.services) == before
    assert world.head(url).headers["Upload-Offset"] == "10"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
def test_wrong_content_type_is_415(world: World, content_type: str | None) -> None:
    url = world.create(100).headers["Location"]
    headers = world.headers(Upload_Offset="0")
    if content_type:
        headers["Content-Type"] = content_type
    response = world.client.patch(url, data=b"x" * 10, headers=headers)
    assert response.status_code == 415
    assert world.head(url).headers["Upload-Offset"] == "0"


def test_a_body_past_upload_length_is_413_and_discarded(world: World) -> None:
    url = world.create(10).headers["Location"]
    before = h.counts(world.services)
    assert world.patch(url, b"x" * 11, 0).status_code == 413
    assert h.counts(world.services) == before
    assert world.head(url).headers["Upload-Offset"] == "0"


def test_patch_without_offset_is_400(world: World) -> None:
    url = world.create(10).headers["Location"]
    headers = world.headers(Content_Type="application/offset+octet-stream")
    assert world.client.patch(url, data=b"x", headers=headers).status_code == 400


def test_method_override_tunnels_patch_through_post(world: World) -> None:
    url = world.create(4).headers["Location"]
    headers = world.headers(
        X_HTTP_Method_Override="PATCH",
        Upload_Offset="0",
        Content_Type="application/offset+octet-stream",
    )
    response = world.client.post(url, data=b"abcd", headers=headers)
    assert (response.status_code, response.headers["Upload-Offset"]) == (204, "4")


def test_other_users_uploads_are_404(world: World) -> None:
    url = world.create(10).headers["Location"]
    for user in ("fac2", "south"):
        assert world.head(url, user=user).status_code == 404
        assert world.patch(url, b"x", 0, user=user).status_code == 404
        assert world.client.delete(url, headers=world.headers(user)).status_code == 404
    assert world.head(url).headers["Upload-Offset"] == "0"


# -- checksum ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_checksums_are_verified(world: World, algorithm: str) -> None:
    url = world.create(20).headers["Location"]
    body = b"0123456789"
    digest = base64.b64encode(hashlib.new(algorithm, body).digest()).decode()
    wrong = base64.b64encode(hashlib.new(algorithm, b"tampered").digest()).decode()
    before = h.counts(world.services)
    bad = world.patch(url, body, 0, Upload_Checksum=f"{algorithm} {wrong}")
    assert bad.status_code == 460
    assert h.counts(world.services) == before, "the part was discarded"
    assert world.head(url).headers["Upload-Offset"] == "0"
    good = world.patch(url, body, 0, Upload_Checksum=f"{algorithm} {digest}")
    assert (good.status_code, good.headers["Upload-Offset"]) == (204, "10")


def test_unsupported_checksum_algorithm_is_400(world: World) -> None:
    url = world.create(20).headers["Location"]
    response = world.patch(url, b"x", 0, Upload_Checksum="crc32 AAAA")
    assert response.status_code == 400
    assert "not supported" in response.get_data(as_text=True)


# -- a dropped connection, then resume ---------------------------------------------------


def test_resume_after_a_dropped_connection(world: World) -> None:
    data = _payload(300_000)
    created = world.create(len(data))
    url, clip_id = created.headers["Location"], created.headers["Verp-Clip-Id"]
    sent = 123_457
    # The client announced the whole file but the connection died after `sent` bytes.
    dropped = world.client.patch(
        url,
        input_stream=io.BytesIO(data[:sent]),
        headers=world.headers(Upload_Offset="0", Content_Type="application/offset+octet-stream"),
        environ_overrides={"CONTENT_LENGTH": str(len(data))},
    )
    assert dropped.status_code == 204
    offset = int(world.head(url).headers["Upload-Offset"])
    assert offset == sent, "everything received before the drop is kept"
    rest = world.patch(url, data[offset:], offset)
    assert (rest.status_code, rest.headers["Upload-Offset"]) == (204, str(len(data)))
    assert _stored_plaintext(world.services, clip_id) == data
    _assert_ciphertext_only(world.services)


def test_a_dropped_body_with_a_checksum_is_discarded(world: World) -> None:
    data = os.urandom(5000)
    url = world.create(len(data)).headers["Location"]
    digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
    response = world.client.patch(
        url,
        input_stream=io.BytesIO(data[:2000]),
        headers=world.headers(
            Upload_Offset="0",
            Content_Type="application/offset+octet-stream",
            Upload_Checksum=f"sha1 {digest}",
        ),
        environ_overrides={"CONTENT_LENGTH": str(len(data))},
    )
    assert response.status_code == 460
    assert world.head(url).headers["Upload-Offset"] == "0"


def test_a_racing_duplicate_patch_loses_and_leaves_no_part(world: World) -> None:
    services = world.services
    actor = world.users["fac"].actor
    created = world.create(20)
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    inner_done: list[int] = []
    chunks = [b"a" * 10]

    def read_with_race(size: int) -> bytes:
        if not inner_done:
            # A retry of the same request arrives (and finishes) while this one streams.
            state = append_chunk(
                services,
                actor,
                upload_id,
                offset="0",
                content_type="application/offset+octet-stream",
                content_length=10,
                checksum=None,
                read=io.BytesIO(b"b" * 10).read,
            )
            inner_done.append(state.offset)
        return chunks.pop() if chunks else b""

    with pytest.raises(Exception, match="another request changed this upload"):
        append_chunk(
            services,
            actor,
            upload_id,
            offset="0",
            content_type="application/offset+octet-stream",
            content_length=10,
            checksum=None,
            read=read_with_race,
        )
    assert inner_done == [10]
    with services.db.session() as session:
        assert [b.rendition for b in session.scalars(select(Blob))] == ["staging-000000"]
    assert len(services.blobs.keys("")) == 1
    assert _stored_plaintext(services, created.headers["Verp-Clip-Id"]) == b"b" * 10


def test_a_new_upload_for_the_same_clip_replaces_an_unfinished_one(world: World) -> None:
    clip = h.clip(world.services, world.north, world.users["fac"])
    old = world.create(20, meta={"clip": clip.id}).headers["Location"]
    assert world.patch(old, b"x" * 10, 0).status_code == 204
    new = world.create(20, meta={"clip": clip.id}).headers["Location"]
    assert new != old
    assert world.head(old).status_code == 404
    assert world.head(new).headers["Upload-Offset"] == "0"
    assert world.patch(new, b"y" * 20, 0).status_code == 204
    assert _stored_plaintext(world.services, clip.id) == b"y" * 20
    assert "upload.supersede" in h.actions(world.services)


# -- termination and expiry --------------------------------------------------------------


def _assert_discarded(services: Services, clip_id: str, reason: str) -> None:
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None and clip.status == "destroyed"
        assert session.scalars(select(Blob).where(Blob.clip_id == clip_id)).all() == []
        tombstone = session.get(Tombstone, clip_id)
        assert tombstone is not None and tombstone.reason == reason
        assert session.get(Consent, clip.consent_id) is not None, "the consent record stays"
    assert services.blobs.keys(f"{clip.site_id}/{clip_id}/") == []


def test_termination_destroys_the_upload_then_404(world: World) -> None:
    created = world.create(100)
    url, clip_id = created.headers["Location"], created.headers["Verp-Clip-Id"]
    assert world.patch(url, b"x" * 40, 0).status_code == 204
    response = world.client.delete(url, headers=world.headers())
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert world.head(url).status_code == 404
    assert world.patch(url, b"x", 40).status_code == 404
    assert world.client.delete(url, headers=world.headers()).status_code == 404
    _assert_discarded(world.services, clip_id, "upload-terminated")
    assert "upload.terminate" in h.actions(world.services)


def test_a_finished_upload_cannot_be_terminated(world: World) -> None:
    url = world.create(4).headers["Location"]
    assert world.patch(url, b"abcd", 0).status_code == 204
    assert world.client.delete(url, headers=world.headers()).status_code == 404
    assert world.head(url).headers["Upload-Offset"] == "4"


def test_abandoned_uploads_expire_and_are_destroyed(world: World) -> None:
    services = world.services
    assert isinstance(services.clock, FixedClock)
    hours = services.settings.upload_expiry_hours
    stale = world.create(100)
    active = world.create(100)
    finished = world.create(4)
    assert world.patch(stale.headers["Location"], b"x" * 10, 0).status_code == 204
    assert world.patch(finished.headers["Location"], b"abcd", 0).status_code == 204
    services.clock.advance(timedelta(hours=hours - 1))
    # Activity slides the expiry: this one keeps going on a slow connection.
    assert world.patch(active.headers["Location"], b"x" * 10, 0).status_code == 204
    services.clock.advance(timedelta(hours=2))
    assert world.head(stale.headers["Location"]).status_code == 410
    assert world.patch(stale.headers["Location"], b"x", 10).status_code == 410
    assert expire_uploads(services) == 1
    assert world.head(stale.headers["Location"]).status_code == 404
    _assert_discarded(services, stale.headers["Verp-Clip-Id"], "upload-abandoned")
    assert world.head(active.headers["Location"]).headers["Upload-Offset"] == "10"
    assert world.head(finished.headers["Location"]).status_code == 200
    assert expire_uploads(services) == 0
    assert "upload.expire" in h.actions(services)


def test_registered_clips_whose_upload_never_started_expire(world: World) -> None:
    services = world.services
    assert isinstance(services.clock, FixedClock)
    idle = h.clip(services, world.north, world.users["fac"])
    services.clock.advance(timedelta(hours=services.settings.upload_expiry_hours + 1))
    fresh = h.clip(services, world.north, world.users["fac"])
    assert expire_uploads(services) == 1
    _assert_discarded(services, idle.id, "upload-abandoned")
    with services.db.session() as session:
        live = session.get(Clip, fresh.id)
        assert live is not None and live.status == "receiving"


def test_unknown_upload_is_404(world: World) -> None:
    assert world.head(ROOT + "does-not-exist").status_code == 404
    with pytest.raises(NotFound):
        append_chunk(
            world.services,
            world.users["fac"].actor,
            "does-not-exist",
            offset="0",
            content_type="application/offset+octet-stream",
            content_length=1,
            checksum=None,
            read=io.BytesIO(b"x").read,
        )

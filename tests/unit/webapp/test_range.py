"""HTTP Range on the encrypted playback rendition: byte-exact against the plaintext.

The rendition here is stored with 4 KiB segments, so small ranges already cross
segment boundaries; every answer is compared byte for byte with the decrypted blob.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.clock import FixedClock
from storage.container import HEADER_SIZE, TAG_SIZE
from storage.db.footage import Blob
from tests.conftest import make_settings
from tests.review_fixtures import PLAYBACK_SIZE, playback_bytes
from tests.webapp_fixtures import PASSWORD, SiteWorld, _make_site, post
from webapp import byteranges
from webapp.app import create_app
from webapp.byteranges import ByteRange, RangeNotSatisfiable, parse_range, stream
from webapp.composition import Services, build_services, initialize

SEGMENT = 4096
SIZE = PLAYBACK_SIZE


@dataclass
class Setup:
    client: FlaskClient
    services: Services
    site: SiteWorld
    plaintext: bytes
    blob: Blob

    @property
    def url(self) -> str:
        return f"/api/v1/clips/{self.site.clip}/media"


@pytest.fixture
def setup(tmp_path: Path, clock: FixedClock, fast_passwords: None) -> Iterator[Setup]:
    settings = make_settings(tmp_path / "home", **{"container.segment_size": SEGMENT})
    initialize(settings)
    svc = build_services(settings, clock=clock)
    try:
        site = _make_site(svc, "a")
        app = create_app(services=svc)
        app.config["TESTING"] = True
        client = app.test_client()
        response = post(
            client, "/login", {"email": site.emails["facilitator"], "password": PASSWORD}
        )
        assert response.status_code == 302
        with svc.db.session() as db:
            blob = db.scalars(
                select(Blob).where(Blob.clip_id == site.clip, Blob.rendition == "playback")
            ).one()
            plaintext = b"".join(svc.vault.iter_plaintext(db, blob))
        yield Setup(client, svc, site, plaintext, blob)
    finally:
        svc.close()


def test_the_rendition_is_what_the_fixture_stored(setup: Setup) -> None:
    assert setup.plaintext == playback_bytes("a")
    assert len(setup.plaintext) == SIZE
    assert setup.blob.ciphertext_size > SIZE  # really stored encrypted, in many segments


# (Range header, expected first byte, expected last byte inclusive)
SATISFIABLE = [
    ("bytes=0-0", 0, 0),
    ("bytes=0-99", 0, 99),
    ("bytes=100-4095", 100, 4095),  # ends on the last byte of segment 0
    ("bytes=4096-8191", 4096, 8191),  # exactly segment 1
    ("bytes=4000-9000", 4000, 9000),  # spans three segments
    ("bytes=1-200001", 1, SIZE - 2),  # nearly everything, many segments
    ("bytes=5000-", 5000, SIZE - 1),  # open-ended
    ("bytes=-1", SIZE - 1, SIZE - 1),  # suffix: the last byte
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=-999999", 0, SIZE - 1),  # suffix longer than the resource: all of it
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # the last byte, explicitly
    (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
    ("bytes=199999-500000", 199_999, SIZE - 1),  # last position clamped to the end
    ("bytes=0-1,5-6", 0, 1),  # several ranges: the first one only
    ("bytes=300000-300001, 10-20", 10, 20),  # the first *satisfiable* one
    ("BYTES = 7 - 9", 7, 9),  # unit is case-insensitive, whitespace tolerated
]


@pytest.mark.parametrize(("header", "first", "last"), SATISFIABLE)
def test_ranges_are_byte_exact(setup: Setup, header: str, first: int, last: int) -> None:
    response = setup.client.get(setup.url, headers={"Range": header})
    assert response.status_code == 206
    body = response.get_data()
    assert body == setup.plaintext[first : last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["ETag"] == f'"b-{setup.blob.id}"'
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={SIZE}-",  # starts just past the end
        "bytes=300000-300010",
        "bytes=-0",  # an empty suffix
        "bytes=5-1",  # last before first: invalid
        "bytes=abc",
        "bytes=",
        "bytes=1-2-3",
        "bytes=-",
        "bytes=0-1,x",  # one malformed part spoils the set
    ],
)
def test_unsatisfiable_or_invalid_ranges_get_416(setup: Setup, header: str) -> None:
    response = setup.client.get(setup.url, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert response.get_data() == b""


def test_no_range_streams_the_whole_rendition(setup: Setup) -> None:
    response = setup.client.get(setup.url)
    assert response.status_code == 200
    assert response.is_streamed  # a generator, not a body built in memory
    assert response.get_data() == setup.plaintext
    assert response.headers["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"


def test_an_unknown_range_unit_is_ignored(setup: Setup) -> None:
    response = setup.client.get(setup.url, headers={"Range": "items=0-1"})
    assert response.status_code == 200
    assert response.get_data() == setup.plaintext


def test_if_range_with_the_current_etag_honours_the_range(setup: Setup) -> None:
    etag = f'"b-{setup.blob.id}"'
    response = setup.client.get(setup.url, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert response.status_code == 206
    assert response.get_data() == setup.plaintext[10:20]


@pytest.mark.parametrize("validator", ['"b-some-other-blob"', "Mon, 02 Mar 2026 09:00:00 GMT"])
def test_if_range_that_does_not_match_sends_everything(setup: Setup, validator: str) -> None:
    response = setup.client.get(setup.url, headers={"Range": "bytes=10-19", "If-Range": validator})
    assert response.status_code == 200
    assert response.get_data() == setup.plaintext


def test_if_none_match_with_the_etag_is_304(setup: Setup) -> None:
    response = setup.client.get(setup.url, headers={"If-None-Match": f'"b-{setup.blob.id}"'})
    assert response.status_code == 304
    assert response.get_data() == b""


def test_head_sends_headers_and_decrypts_nothing(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    original = setup.services.blobs.read_range

    def spy(key: str, offset: int, length: int) -> bytes:
        calls.append((offset, length))
        return original(key, offset, length)

    monkeypatch.setattr(setup.services.blobs, "read_range", spy)
    response = setup.client.head(setup.url, headers={"Range": "bytes=100-"})
    # Range applies to GET only: HEAD describes the whole rendition.
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.get_data() == b""
    assert all(offset == 0 for offset, _ in calls)  # only the container header was read


@pytest.mark.parametrize("header", ["bytes=100-", f"bytes={SIZE}-", "bytes=oops", "bytes=5-1"])
def test_head_ignores_any_range(setup: Setup, header: str) -> None:
    response = setup.client.head(setup.url, headers={"Range": header})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == f'"b-{setup.blob.id}"'


@pytest.mark.parametrize(
    "header",
    [
        'W/"b-{id}"',
        '"other", W/"b-{id}"',
        '"other",W/"b-{id}" , "more"',
        "*",
        ' "b-{id}" ',
    ],
)
def test_if_none_match_uses_the_weak_comparison(setup: Setup, header: str) -> None:
    response = setup.client.get(
        setup.url, headers={"If-None-Match": header.format(id=setup.blob.id)}
    )
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == f'"b-{setup.blob.id}"'


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', 'W/"b-{id}x"', "b-{id}", '"b-{id}'])
def test_if_none_match_without_a_match_sends_the_body(setup: Setup, header: str) -> None:
    response = setup.client.get(
        setup.url, headers={"If-None-Match": header.format(id=setup.blob.id)}
    )
    assert response.status_code == 200
    assert response.get_data() == setup.plaintext


def test_if_range_uses_the_strong_comparison(setup: Setup) -> None:
    """A weak validator never satisfies If-Range (RFC 9110 §13.1.5): the whole body."""
    weak = f'W/"b-{setup.blob.id}"'
    response = setup.client.get(setup.url, headers={"Range": "bytes=10-19", "If-Range": weak})
    assert response.status_code == 200
    assert response.get_data() == setup.plaintext


def test_only_the_covering_segments_are_fetched(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    original = setup.services.blobs.read_range

    def spy(key: str, offset: int, length: int) -> bytes:
        calls.append((offset, length))
        return original(key, offset, length)

    monkeypatch.setattr(setup.services.blobs, "read_range", spy)
    first = 150_000  # in segment 36
    response = setup.client.get(setup.url, headers={"Range": f"bytes={first}-{first + 9}"})
    assert response.get_data() == setup.plaintext[first : first + 10]
    body_reads = [c for c in calls if c[0] != 0]
    assert len(body_reads) == 1
    offset, length = body_reads[0]
    assert length <= SEGMENT + 16  # one segment and its tag
    assert offset > 36 * SEGMENT  # far into the blob: nothing before it was read


def test_a_tampered_segment_fails_the_request_cleanly(setup: Setup) -> None:
    home = setup.services.settings.home
    stored = next(p for p in home.rglob("*") if p.is_file() and setup.blob.id in p.name)
    data = bytearray(stored.read_bytes())
    segment = 20
    data[HEADER_SIZE + segment * (SEGMENT + TAG_SIZE) + 7] ^= 0x01  # inside segment 20
    stored.write_bytes(bytes(data))
    middle = segment * SEGMENT + 100
    response = setup.client.get(setup.url, headers={"Range": f"bytes={middle}-{middle + 9}"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal"
    untouched = setup.client.get(setup.url, headers={"Range": "bytes=0-9"})
    assert untouched.get_data() == setup.plaintext[:10]


# -- the parser and the streaming helper on their own ---------------------------------


def test_parse_range_returns_none_without_a_header() -> None:
    assert parse_range(None, 10) is None


def test_parse_range_on_an_empty_resource_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-5", 0)


def test_parse_range_values() -> None:
    assert parse_range("bytes=2-", 10) == ByteRange(2, 10, 10)
    assert parse_range("bytes=-3", 10) == ByteRange(7, 10, 10)
    assert parse_range("bytes=0-100", 10) == ByteRange(0, 10, 10)
    assert ByteRange(2, 5, 10).content_range() == "bytes 2-4/10"


def test_stream_decrypts_in_bounded_segment_aligned_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(byteranges, "BATCH_BYTES", 8192)
    data = bytes(range(256)) * 200  # 51 200 bytes
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> bytes:
        reads.append((start, stop))
        return data[start:stop]

    pieces = list(stream(read, 1000, 40_000, 4096))
    assert b"".join(pieces) == data[1000:40_000]
    assert all(stop - start <= 8192 for start, stop in reads)
    assert all(stop % 8192 == 0 for _, stop in reads[:-1])  # later pieces are whole batches
    assert reads[0] == (1000, 8192)


def test_stream_refuses_a_short_read() -> None:
    def short(start: int, stop: int) -> bytes:
        return b"x"

    with pytest.raises(RuntimeError):
        list(stream(short, 0, 10, 4096))

"""HTTP Range requests (RFC 9110 §14) for decrypted footage: parse, decide, stream.

The footage endpoints (the playback rendition, moments) answer:

* no ``Range`` (or a unit other than ``bytes``) → ``200`` with the whole body;
* one satisfiable range → ``206`` with ``Content-Range: bytes first-last/size``;
  ``bytes=a-b``, open-ended ``bytes=a-`` and suffix ``bytes=-n`` are understood, and a
  last position past the end is clamped to the end;
* several ranges (``bytes=0-1,5-6``) → ``206`` with the **first satisfiable range only**
  (no ``multipart/byteranges``; browsers never ask for several ranges, and a single
  part is what media players expect). Clients see from ``Content-Range`` what they got;
* a malformed ``bytes`` header, or one whose ranges are all unsatisfiable (start at or
  past the end, ``bytes=-0``, an empty resource) → ``416`` with
  ``Content-Range: bytes */size``;
* ``If-Range`` with the current entity tag → the range is served; with any other tag
  or an HTTP date → the range is ignored and the full body sent (``200``), as RFC 9110
  §13.1.5 requires for a validator that does not match;
* ``If-None-Match`` with the current tag, compared weakly (``W/"x"`` matches ``"x"``),
  in a list, or ``*`` → ``304``;
* ``HEAD`` ignores ``Range`` (it applies to GET only): ``200`` with the headers of the
  whole body, nothing decrypted.

The entity tag is derived from the blob id (blobs are immutable: a re-rendered moment
gets a new blob), never from the content, so producing it costs no decryption.

Bodies are generators that decrypt a few segments at a time (see :func:`stream`): a
large range never sits in memory whole, and only the segments covering the requested
bytes are fetched and decrypted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Request, Response

from storage.errors import DecryptionError, KeyError_

#: Plaintext bytes decrypted per step of a streamed body (rounded to whole segments).
BATCH_BYTES = 4 * 1024 * 1024
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
#: One entity tag of a list: optional weakness marker, then a quoted opaque tag.
_ETAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')

Read = Callable[[int, int], bytes]
log = logging.getLogger("verp.web")


class StreamAborted(Exception):
    """A footage body could not be completed (a later segment failed to decrypt); the
    connection is dropped. Carries the entity tag only, never the cause."""


class RangeNotSatisfiable(Exception):
    """The Range header is malformed or none of its ranges overlaps the resource."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[start, stop)`` of a resource of ``size`` bytes."""

    start: int
    stop: int
    size: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range a ``Range`` header asks of a resource of ``size`` bytes.

    Returns None when the whole resource should be sent (no header, or a unit other
    than bytes, which RFC 9110 says to ignore); with several ranges, the first
    satisfiable one. Raises RangeNotSatisfiable for a malformed bytes range set or one
    with no satisfiable range.
    """
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        if unit.strip().lower() == "bytes":
            raise RangeNotSatisfiable(size)
        return None
    parts = [p for p in spec.split(",") if p.strip()]
    if not parts:
        raise RangeNotSatisfiable(size)
    chosen: ByteRange | None = None
    for part in parts:
        found = _SPEC.match(part)
        if found is None or (not found.group(1) and not found.group(2)):
            raise RangeNotSatisfiable(size)
        first, last = found.group(1), found.group(2)
        candidate = _resolve(int(first) if first else None, int(last) if last else None, size)
        if chosen is None:
            chosen = candidate
    if chosen is None:
        raise RangeNotSatisfiable(size)
    return chosen


def _resolve(first: int | None, last: int | None, size: int) -> ByteRange | None:
    """One range-spec against the size; None if unsatisfiable, RangeNotSatisfiable if invalid."""
    if first is None:
        assert last is not None  # "-" alone is refused by the caller
        if last == 0 or size == 0:
            return None
        return ByteRange(max(0, size - last), size, size)
    if last is not None and last < first:
        raise RangeNotSatisfiable(size)  # an invalid range-spec invalidates the header
    if first >= size:
        return None
    stop = size if last is None else min(last + 1, size)
    return ByteRange(first, stop, size)


def etag_for(blob_id: str) -> str:
    """The strong entity tag of a blob's plaintext (quoted, as sent in ``ETag``)."""
    return f'"b-{blob_id}"'


def _opaque(tag: str) -> str:
    """An entity tag without its weakness marker: ``W/"x"`` and ``"x"`` -> ``"x"``."""
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (RFC 9110 §13.1.2).

    ``*`` matches any current entity; otherwise a comma-separated list of entity tags is
    compared with the **weak** comparison the RFC requires here: ``W/"x"`` matches
    ``"x"``. A malformed header matches nothing (the full response is sent).
    """
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in _ETAG.findall(header))


def requested_range(request: Request, size: int, etag: str) -> ByteRange | None:
    """The range to send for ``request``, honouring ``If-Range`` (see module docstring).

    Raises RangeNotSatisfiable as :func:`parse_range`.
    """
    header = request.headers.get("Range")
    if header is None:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None  # a changed entity (or a date validator): send it whole
    return parse_range(header, size)


def stream(read: Read, start: int, stop: int, segment_size: int) -> Iterator[bytes]:
    """Plaintext ``[start, stop)`` in pieces that end on segment boundaries.

    Each piece decrypts at most about BATCH_BYTES, so memory stays flat however large
    the range; ``read(a, b)`` must return exactly ``[a, b)`` (a RangeDecryptor's read).
    """
    batch = max(1, BATCH_BYTES // segment_size) * segment_size
    position = start
    while position < stop:
        # End the first piece on a boundary so later pieces decrypt whole segments.
        boundary = (position // batch + 1) * batch
        end = min(stop, boundary)
        piece = read(position, end)
        if len(piece) != end - position:
            raise RuntimeError("short read from the decryptor")
        position = end
        yield piece


@dataclass(frozen=True)
class Entity:
    """What a footage endpoint knows about the bytes it is about to send."""

    size: int
    etag: str
    content_type: str
    segment_size: int


def not_satisfiable(size: int) -> Response:
    """The 416 answer, which names the resource's size."""
    response = Response(b"", status=416)
    response.headers["Content-Range"] = f"bytes */{size}"
    response.headers["Accept-Ranges"] = "bytes"
    return response


def ranged_response(request: Request, entity: Entity, read: Read) -> Response:
    """A 200/206/304/416 response streaming ``read`` (see the module docstring).

    The first piece is decrypted before the response starts, so a tampered first
    segment fails the request with an error status instead of a cut-off body; a
    later failure can only end the connection early (the status is already sent).
    """
    if none_match(request.headers.get("If-None-Match"), entity.etag):
        response = Response(b"", status=304)
        return _common(response, entity)
    try:
        # Range applies to GET only (RFC 9110 §14.2): HEAD describes the whole entity.
        head = request.method == "HEAD"
        byte_range = None if head else requested_range(request, entity.size, entity.etag)
    except RangeNotSatisfiable:
        return _common(not_satisfiable(entity.size), entity)
    start, stop = (0, entity.size) if byte_range is None else (byte_range.start, byte_range.stop)
    # HEAD gets the headers only: nothing is decrypted.
    body = iter(()) if request.method == "HEAD" else stream(read, start, stop, entity.segment_size)
    first = next(body, b"")

    def chained() -> Iterator[bytes]:
        if first:
            yield first
        try:
            yield from body
        except (DecryptionError, KeyError_):
            # After the status line the only way out is to drop the connection, and the
            # WSGI server logs what ends a body with a traceback: log a fixed line with
            # the blob's tag here and end with an error that carries no cause.
            log.error("footage stream %s ended early: the blob could not be decrypted", entity.etag)
            raise StreamAborted(entity.etag) from None

    response = Response(chained(), status=200 if byte_range is None else 206)
    response.headers["Content-Length"] = str(stop - start)
    if byte_range is not None:
        response.headers["Content-Range"] = byte_range.content_range()
    response.headers["Content-Type"] = entity.content_type
    return _common(response, entity)


def _common(response: Response, entity: Entity) -> Response:
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["ETag"] = entity.etag
    # Footage must not stay in any cache, shared or the browser's own.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = "inline"
    return response

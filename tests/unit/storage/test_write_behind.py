"""The write-behind pool, and the container's pipelined stream functions built on it."""

from __future__ import annotations

import io
import os
import threading

import pytest

from storage.container import (
    HEADER_SIZE,
    PIPELINE_MIN_SEGMENT,
    TAG_SIZE,
    Binding,
    EncryptingWriter,
    decrypt_stream,
    encrypt_stream,
)
from storage.errors import DecryptionError
from storage.pipeline import SegmentOutput, WriteBehind

KEY = bytes(range(32))
BINDING = Binding("site-1", "clip-1", "original")
SALT, PREFIX = bytes(32), bytes(7)


class Recording:
    """A sink that keeps copies of what it was given, optionally failing on one write."""

    def __init__(self, fail_on: int | None = None, exc: BaseException | None = None) -> None:
        self.writes: list[bytes] = []
        self.fail_on, self.exc = fail_on, exc
        self.gate = threading.Event()
        self.gate.set()

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self.gate.wait(5)
        if self.fail_on is not None and len(self.writes) == self.fail_on:
            assert self.exc is not None
            raise self.exc
        self.writes.append(bytes(data))
        return len(self.writes[-1])


def test_writes_every_submitted_prefix_in_order_with_reused_buffers() -> None:
    sink = Recording()
    behind = WriteBehind(sink, 8, depth=2)
    seen = set()
    for n in range(1, 8):
        buf = behind.acquire()
        seen.add(id(buf.obj))
        buf[:n] = bytes([n]) * n
        behind.submit(buf[:n])
    behind.close()
    assert sink.writes == [bytes([n]) * n for n in range(1, 8)]
    assert len(seen) == 2  # the pool, not a new buffer per write


def test_a_submitted_view_stays_usable_by_the_caller() -> None:
    sink = Recording()
    behind = WriteBehind(sink, 8)
    view = behind.acquire()[:3]
    view[:] = b"abc"
    behind.submit(view)
    behind.close()  # the write has happened on the other thread
    assert len(view) == 3 and bytes(view) == b"abc"
    assert sink.writes == [b"abc"]


def test_a_write_failure_is_raised_in_the_callers_thread_and_later_buffers_dropped() -> None:
    sink = Recording(fail_on=1, exc=OSError("disk full"))
    behind = WriteBehind(sink, 4, depth=1)
    for value in (1, 2, 3):
        try:
            buf = behind.acquire()
        except OSError:
            break
        buf[:1] = bytes([value])
        behind.submit(buf[:1])
    with pytest.raises(OSError, match="disk full"):
        behind.close()
    assert sink.writes == [b"\x01"]


def test_abort_drops_what_is_queued_and_does_not_raise() -> None:
    sink = Recording()
    sink.gate.clear()  # the first write blocks until released
    behind = WriteBehind(sink, 4, depth=2)
    for value in (1, 2):
        buf = behind.acquire()
        buf[:1] = bytes([value])
        behind.submit(buf[:1])
    threading.Timer(0.05, sink.gate.set).start()
    behind.abort()
    assert sink.writes in ([], [b"\x01"])  # never the queued second one
    with pytest.raises(ValueError):
        behind.acquire()


def test_refuses_foreign_views_bad_sizes_and_use_after_close() -> None:
    with pytest.raises(ValueError):
        WriteBehind(Recording(), 0)
    sink = Recording()
    behind = WriteBehind(sink, 4)
    with pytest.raises(ValueError):
        behind.submit(memoryview(bytearray(4)))  # right size, but not one of the pool's
    behind.close()
    assert sink.writes == []
    with pytest.raises(ValueError):
        behind.acquire()
    with pytest.raises(ValueError):
        behind.submit(memoryview(bytearray(4)))


@pytest.mark.parametrize("segment", [PIPELINE_MIN_SEGMENT - 1, PIPELINE_MIN_SEGMENT])
@pytest.mark.parametrize("segments", [1, 2, 5])
def test_pipelined_encrypt_is_byte_identical_to_the_writer(segment: int, segments: int) -> None:
    data = os.urandom(segment * segments - 3)
    inline, piped = io.BytesIO(), io.BytesIO()
    writer = EncryptingWriter(inline, KEY, BINDING, segment, salt=SALT, nonce_prefix=PREFIX)
    for i in range(0, len(data), 10_000):
        writer.write(data[i : i + 10_000])
    writer.close()
    fast = EncryptingWriter(piped, KEY, BINDING, segment, salt=SALT, nonce_prefix=PREFIX)
    fast._encrypt_all(io.BytesIO(data))
    assert piped.getvalue() == inline.getvalue()
    out = io.BytesIO()
    assert decrypt_stream(io.BytesIO(piped.getvalue()), out, KEY, BINDING) == len(data)
    assert out.getvalue() == data


def test_pipelined_decrypt_writes_only_verified_segments_then_fails() -> None:
    seg = PIPELINE_MIN_SEGMENT
    data = os.urandom(seg * 4)
    blob = bytearray()
    encrypt_stream(io.BytesIO(data), BlobSink(blob), KEY, BINDING, seg)
    blob[HEADER_SIZE + 2 * (seg + TAG_SIZE) + 5] ^= 1  # the third segment
    sink = Recording()
    with pytest.raises(DecryptionError):
        decrypt_stream(io.BytesIO(bytes(blob)), sink, KEY, BINDING)
    assert b"".join(sink.writes) == data[: 2 * seg]


def test_pipelined_streams_raise_the_sinks_failure() -> None:
    seg = PIPELINE_MIN_SEGMENT
    data = os.urandom(seg * 3)
    with pytest.raises(OSError, match="no space"):
        encrypt_stream(io.BytesIO(data), Recording(1, OSError("no space")), KEY, BINDING, seg)
    blob = bytearray()
    encrypt_stream(io.BytesIO(data), BlobSink(blob), KEY, BINDING, seg)
    sink = Recording(fail_on=1, exc=OSError("no space"))
    with pytest.raises(OSError, match="no space"):
        decrypt_stream(io.BytesIO(bytes(blob)), sink, KEY, BINDING)
    assert sink.writes == [data[:seg]]


class BlobSink:
    """Appends every write to a bytearray."""

    def __init__(self, target: bytearray) -> None:
        self.target = target

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self.target += data
        return len(memoryview(data).cast("B"))


def test_pipelined_round_trip_of_many_segments_under_thread_interleaving() -> None:
    seg = PIPELINE_MIN_SEGMENT
    data = os.urandom(seg * 96 + 7)
    blob = bytearray()
    assert encrypt_stream(io.BytesIO(data), BlobSink(blob), KEY, BINDING, seg) == len(blob)
    for _ in range(3):
        out = io.BytesIO()
        assert decrypt_stream(io.BytesIO(bytes(blob)), out, KEY, BINDING) == len(data)
        assert out.getvalue() == data


def test_segment_output_writes_small_segments_inline_and_pools_large_ones() -> None:
    sink = Recording()
    small = SegmentOutput(sink, min_pipelined=100)
    first = small(10)
    first[:2] = b"ab"
    small.emit(first[:2])
    assert sink.writes == [b"ab"]  # written before emit returned, on this thread
    assert small(10).obj is first.obj  # one buffer, reused
    small.close()

    pooled_sink = Recording()
    pooled_sink.gate.clear()  # writes wait: the pool must not block emit
    large = SegmentOutput(pooled_sink, min_pipelined=100)
    buf = large(100)
    buf[:3] = b"xyz"
    large.emit(buf[:3])
    assert pooled_sink.writes == []
    pooled_sink.gate.set()
    large.close()
    assert pooled_sink.writes == [b"xyz"]

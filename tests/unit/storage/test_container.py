"""Properties of the segmented AEAD container (docs/format.md).

Round trips for any data, segment size and write chunking; every kind of tampering
(flipped bytes, truncation, extension, reordering, swaps between blobs, another
binding or key, unknown versions) fails with the one DecryptionError and releases no
plaintext of a failed segment; random access equals slicing; the size formulas are
inverses; the writer's memory does not grow with the plaintext.
"""

from __future__ import annotations

import bisect
import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import container
from storage.container import (
    HEADER_SIZE,
    TAG_SIZE,
    Binding,
    EncryptingWriter,
    Header,
    RangeDecryptor,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    iter_decrypt,
    plaintext_size,
    segment_count,
)
from storage.container import writer as container_writer
from storage.errors import DecryptionError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BINDING = Binding("site-1", "clip-1", "original")
MiB = 1024 * 1024
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encrypt(data: bytes, seg: int, key: bytes = KEY, binding: Binding = BINDING) -> bytes:
    """Encrypt ``data`` with EncryptingWriter in one write."""
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, binding, seg) as writer:
        writer.write(data)
    return sink.getvalue()


def decrypt(blob: bytes, key: bytes = KEY, binding: Binding = BINDING) -> bytes:
    """Decrypt a whole container with the streaming reader."""
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), sink, key, binding)
    return sink.getvalue()


def fetcher(blob: bytes, log: list[tuple[int, int]] | None = None) -> container.Fetch:
    """A fetch over an in-memory blob, optionally recording every request."""

    def fetch(offset: int, length: int) -> bytes:
        if log is not None:
            log.append((offset, length))
        return blob[offset : offset + length]

    return fetch


def range_read_all(blob: bytes, key: bytes = KEY, binding: Binding = BINDING) -> bytes:
    """Open a RangeDecryptor on ``blob`` and read its whole plaintext."""
    reader = RangeDecryptor(fetcher(blob), len(blob), key, binding)
    return reader.read(0, reader.size)


def assert_rejected(
    blob: bytes, key: bytes = KEY, binding: Binding = BINDING, *, range_reader: bool = True
) -> None:
    """The stream reader, and the range reader reading everything, raise DecryptionError."""
    with pytest.raises(DecryptionError):
        decrypt(blob, key, binding)
    if range_reader:
        with pytest.raises(DecryptionError):
            range_read_all(blob, key, binding)


EMPTY_CONTAINER_SIZE = HEADER_SIZE + TAG_SIZE


def assert_truncation_rejected(blob: bytes) -> None:
    """Like assert_rejected, minus the known gap of a cut to exactly 64 bytes (see below)."""
    assert_rejected(blob, range_reader=len(blob) != EMPTY_CONTAINER_SIZE)


def segments(blob: bytes, seg: int) -> list[bytes]:
    """Split a container's body into its stored segments."""
    full = seg + TAG_SIZE
    return [blob[i : i + full] for i in range(HEADER_SIZE, len(blob), full)]


# --- round trips --------------------------------------------------------------------


@FAST
@given(
    data=st.binary(max_size=3000),
    seg=st.integers(16, 300),
    steps=st.lists(st.integers(1, 700), min_size=1, max_size=20),
)
def test_round_trip_any_segment_size_and_chunking(data: bytes, seg: int, steps: list[int]) -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, BINDING, seg)
    pos, i = 0, 0
    while pos < len(data):
        n = steps[i % len(steps)]
        assert writer.write(memoryview(data)[pos : pos + n]) == len(data[pos : pos + n])
        pos, i = pos + n, i + 1
    writer.close()
    blob = sink.getvalue()
    assert len(blob) == ciphertext_size(len(data), seg) == writer.ciphertext_size
    assert writer.plaintext_size == len(data)
    assert decrypt(blob) == data
    assert b"".join(bytes(v) for v in iter_decrypt(io.BytesIO(blob), KEY, BINDING)) == data
    assert range_read_all(blob) == data


class TrickleReader(io.RawIOBase):
    """A source that returns at most ``step`` bytes per read, like a pipe or socket.

    The first read may return up to ``first`` bytes instead.
    """

    def __init__(self, data: bytes, step: int, first: int = 0) -> None:
        self._data, self._pos, self._step, self._first = data, 0, step, first

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        step = max(self._step, self._first if self._pos == 0 else 0)
        chunk = self._data[self._pos : self._pos + min(step, len(buf))]
        buf[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


@FAST
@given(data=st.binary(max_size=2000), seg=st.integers(16, 200), step=st.integers(1, 300))
def test_stream_functions_round_trip_with_short_reads(data: bytes, seg: int, step: int) -> None:
    sink = io.BytesIO()
    size = encrypt_stream(TrickleReader(data, step), sink, KEY, BINDING, seg)  # type: ignore[arg-type]
    blob = sink.getvalue()
    assert size == len(blob) == ciphertext_size(len(data), seg)
    out = io.BytesIO()
    source = TrickleReader(blob, step)
    assert decrypt_stream(source, out, KEY, BINDING) == len(data)  # type: ignore[arg-type]
    assert out.getvalue() == data


def test_stream_decryption_accepts_a_header_arriving_in_short_reads() -> None:
    data = os.urandom(100)
    out = io.BytesIO()
    decrypt_stream(TrickleReader(encrypt(data, 16), 5), out, KEY, BINDING)  # type: ignore[arg-type]
    assert out.getvalue() == data


@FAST
@given(data=st.binary(max_size=1000), seg=st.integers(16, 100), step=st.integers(1, 200))
def test_encrypt_stream_and_writer_produce_the_same_bytes(data: bytes, seg: int, step: int) -> None:
    salt, prefix = os.urandom(32), os.urandom(7)
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, BINDING, seg, salt=salt, nonce_prefix=prefix)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
    writer.close()
    # encrypt_stream takes no salt or prefix: serve the same ones as its "random" bytes.
    supply = [salt, prefix]
    fake_os = SimpleNamespace(urandom=lambda n: supply.pop(0))
    fast_sink = io.BytesIO()
    with mock.patch.object(container_writer, "os", fake_os):
        size = encrypt_stream(TrickleReader(data, step), fast_sink, KEY, BINDING, seg)  # type: ignore[arg-type]
    assert fast_sink.getvalue() == sink.getvalue()
    assert size == writer.ciphertext_size


@pytest.mark.parametrize(
    "length",
    [0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 3 * 256 * 1024],
    ids=["empty", "1", "S-1", "S", "S+1", "3S"],
)
def test_round_trip_at_the_default_segment_size(length: int) -> None:
    data = os.urandom(length)
    sink = io.BytesIO()
    size = encrypt_stream(io.BytesIO(data), sink, KEY, BINDING)
    assert size == ciphertext_size(length, 256 * 1024)
    blob = sink.getvalue()
    assert int.from_bytes(blob[5:9], "big") == container.DEFAULT_SEGMENT_SIZE == 256 * 1024
    assert decrypt(blob) == data
    reader = RangeDecryptor(fetcher(blob), len(blob), KEY, BINDING)
    assert reader.read(0, length) == data
    assert reader.read(MiB - 10, MiB + 10) == data[MiB - 10 : MiB + 10]


def test_full_final_segment_is_not_followed_by_an_empty_one() -> None:
    for n in (16, 32, 64):
        data = os.urandom(n)
        blob = encrypt(data, 16)
        assert len(segments(blob, 16)) == n // 16
        assert len(blob) == HEADER_SIZE + n + (n // 16) * TAG_SIZE
        assert decrypt(blob) == data
        assert range_read_all(blob) == data


def test_empty_plaintext_is_one_empty_final_segment() -> None:
    blob = encrypt(b"", 16)
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    assert decrypt(blob) == b""
    assert list(iter_decrypt(io.BytesIO(blob), KEY, BINDING)) == [b""]
    reader = RangeDecryptor(fetcher(blob), len(blob), KEY, BINDING)
    assert reader.size == 0
    assert reader.read(0, 10) == b""


def test_each_container_gets_fresh_salt_and_prefix() -> None:
    a, b = encrypt(b"same", 16), encrypt(b"same", 16)
    assert a[9:41] != b[9:41]  # salt
    assert a[41:48] != b[41:48]  # nonce prefix
    assert a[HEADER_SIZE:] != b[HEADER_SIZE:]


# --- tampering ------------------------------------------------------------------------

SMALL_DATA = bytes(range(50)) + b"tail"  # 54 bytes: 3 full segments + 6 at S = 16
SMALL_SEG = 16
SMALL_BLOB = encrypt(SMALL_DATA, SMALL_SEG)


def flipped(blob: bytes, pos: int, mask: int) -> bytes:
    out = bytearray(blob)
    out[pos] ^= mask
    return bytes(out)


def test_every_single_bit_and_byte_flip_anywhere_is_detected() -> None:
    assert len(SMALL_BLOB) == HEADER_SIZE + 54 + 4 * TAG_SIZE
    for pos in range(len(SMALL_BLOB)):
        for mask in (0x01, 0x80, 0xFF):
            assert_rejected(flipped(SMALL_BLOB, pos, mask))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_random_byte_change_is_detected(data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(SMALL_BLOB) - 1))
    mask = data.draw(st.integers(1, 255))
    assert_rejected(flipped(SMALL_BLOB, pos, mask))


def test_flip_in_an_empty_container_is_detected() -> None:
    blob = encrypt(b"", 16)
    for pos in range(len(blob)):
        with pytest.raises(DecryptionError):
            decrypt(flipped(blob, pos, 0x01))


def test_truncation_at_every_segment_boundary_is_detected() -> None:
    count = segment_count(len(SMALL_DATA), SMALL_SEG)
    for k in range(count):  # keep k segments: 0 .. all but the final one
        assert_rejected(SMALL_BLOB[: HEADER_SIZE + k * (SMALL_SEG + TAG_SIZE)])


def test_truncation_at_every_length_is_detected() -> None:
    for n in range(len(SMALL_BLOB)):
        assert_truncation_rejected(SMALL_BLOB[:n])


def test_truncated_full_final_segment_container_is_detected() -> None:
    blob = encrypt(os.urandom(64), 16)  # four full segments
    for k in range(4):
        assert_rejected(blob[: HEADER_SIZE + k * 32])


@pytest.mark.parametrize(
    "blob",
    [SMALL_BLOB[:EMPTY_CONTAINER_SIZE], flipped(encrypt(b"", 16), HEADER_SIZE, 0x01)],
    ids=["cut-to-64-bytes", "tampered-empty"],
)
def test_range_reader_rejects_a_bad_blob_of_empty_size(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        RangeDecryptor(fetcher(blob), len(blob), KEY, BINDING).read(0, 1)


@FAST
@given(data=st.binary(max_size=400), seg=st.integers(16, 64), cut=st.integers(0, 10**6))
def test_truncation_at_arbitrary_points_is_detected(data: bytes, seg: int, cut: int) -> None:
    blob = encrypt(data, seg)
    assert_truncation_rejected(blob[: len(blob) - 1 - cut % len(blob)])


@pytest.mark.parametrize(
    "extra",
    [b"\x00", bytes(TAG_SIZE), os.urandom(SMALL_SEG + TAG_SIZE)],
    ids=["1-byte", "empty-segment", "full-segment"],
)
def test_appended_bytes_are_detected(extra: bytes) -> None:
    assert_rejected(SMALL_BLOB + extra)


def test_appended_copy_of_own_final_segment_is_detected() -> None:
    blob = encrypt(os.urandom(32), 16)  # two full segments
    assert_rejected(blob + segments(blob, 16)[-1])


def test_reordered_segments_are_detected() -> None:
    segs = segments(SMALL_BLOB, SMALL_SEG)
    full = [i for i, s in enumerate(segs) if len(s) == SMALL_SEG + TAG_SIZE]
    for i in full:
        for j in full:
            if i != j:
                swapped = list(segs)
                swapped[i], swapped[j] = segs[j], segs[i]
                assert_rejected(SMALL_BLOB[:HEADER_SIZE] + b"".join(swapped))
                duplicated = list(segs)
                duplicated[j] = segs[i]
                assert_rejected(SMALL_BLOB[:HEADER_SIZE] + b"".join(duplicated))


def test_dropped_middle_segment_is_detected() -> None:
    segs = segments(SMALL_BLOB, SMALL_SEG)
    for k in range(len(segs) - 1):
        assert_rejected(SMALL_BLOB[:HEADER_SIZE] + b"".join(segs[:k] + segs[k + 1 :]))


def test_segment_or_header_from_another_blob_with_the_same_key_is_detected() -> None:
    other = encrypt(os.urandom(len(SMALL_DATA)), SMALL_SEG)  # same key, binding, sizes
    mine, theirs = segments(SMALL_BLOB, SMALL_SEG), segments(other, SMALL_SEG)
    for k in range(len(mine)):
        spliced = [*mine[:k], theirs[k], *mine[k + 1 :]]
        assert_rejected(SMALL_BLOB[:HEADER_SIZE] + b"".join(spliced))
    assert_rejected(other[:HEADER_SIZE] + SMALL_BLOB[HEADER_SIZE:])  # header swap


def test_same_plaintext_reencrypted_is_not_interchangeable() -> None:
    again = encrypt(SMALL_DATA, SMALL_SEG)
    assert_rejected(SMALL_BLOB[:HEADER_SIZE] + again[HEADER_SIZE:])
    assert_rejected(again[:HEADER_SIZE] + SMALL_BLOB[HEADER_SIZE:])


@pytest.mark.parametrize(
    "binding",
    [
        Binding("site-2", "clip-1", "original"),
        Binding("site-1", "clip-2", "original"),
        Binding("site-1", "clip-1", "proxy"),
        Binding("site-1c", "lip-1", "original"),  # same concatenation, other split
        Binding("site-", "1clip-1", "original"),
        Binding("", "", ""),
    ],
)
def test_another_binding_is_rejected(binding: Binding) -> None:
    assert_rejected(SMALL_BLOB, binding=binding)


def test_length_prefixes_keep_bindings_apart() -> None:
    a = Binding("ab", "c", "r").encode()
    b = Binding("a", "bc", "r").encode()
    assert a != b
    assert a.startswith(b"verp/binding/v1")


@pytest.mark.parametrize("key", [OTHER_KEY, bytes(32), KEY[:31], KEY + b"\x00", b""])
def test_wrong_key_is_rejected(key: bytes) -> None:
    assert_rejected(SMALL_BLOB, key=key)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version_is_rejected(version: int) -> None:
    blob = bytearray(SMALL_BLOB)
    blob[4] = version
    assert_rejected(bytes(blob))


@pytest.mark.parametrize("magic", [b"VERQ", b"verp", b"\x00\x00\x00\x00", b"PREV"])
def test_bad_magic_is_rejected(magic: bytes) -> None:
    assert_rejected(magic + SMALL_BLOB[4:])


@pytest.mark.parametrize("segment_size", [0, 15, 2**26 + 1, 2**32 - 1])
def test_out_of_range_segment_size_in_header_is_rejected(segment_size: int) -> None:
    blob = bytearray(SMALL_BLOB)
    blob[5:9] = segment_size.to_bytes(4, "big")
    assert_rejected(bytes(blob))
    with pytest.raises(DecryptionError):
        Header.decode(bytes(blob[:HEADER_SIZE]))


@pytest.mark.parametrize(
    "blob", [b"", b"VERP", SMALL_BLOB[:HEADER_SIZE]], ids=["empty", "magic-only", "header-only"]
)
def test_too_short_input_is_rejected(blob: bytes) -> None:
    assert_rejected(blob)


def test_errors_are_opaque() -> None:
    messages = set()
    for blob, key, binding in [
        (flipped(SMALL_BLOB, 0, 1), KEY, BINDING),
        (SMALL_BLOB[:-1], KEY, BINDING),
        (SMALL_BLOB, OTHER_KEY, BINDING),
        (SMALL_BLOB, KEY, Binding("x", "y", "z")),
    ]:
        with pytest.raises(DecryptionError) as info:
            decrypt(blob, key, binding)
        messages.add(str(info.value))
    assert messages == {"decryption failed"}


# --- no plaintext from a failed segment -------------------------------------------------


def collect(blob: bytes) -> tuple[list[bytes], bool]:
    """Everything iter_decrypt yields before it stops, and whether it failed."""
    got: list[bytes] = []
    try:
        for chunk in iter_decrypt(io.BytesIO(blob), KEY, BINDING):
            got.append(bytes(chunk))
    except DecryptionError:
        return got, True
    return got, False


def test_corrupt_first_segment_yields_nothing() -> None:
    got, failed = collect(flipped(SMALL_BLOB, HEADER_SIZE + 3, 0x40))
    assert failed
    assert got == []


def test_corrupt_header_yields_nothing() -> None:
    for pos in range(HEADER_SIZE):
        got, failed = collect(flipped(SMALL_BLOB, pos, 0x01))
        assert failed
        assert got == []


def test_stream_releases_only_verified_segments_before_a_corrupt_one() -> None:
    full = SMALL_SEG + TAG_SIZE
    for bad in range(segment_count(len(SMALL_DATA), SMALL_SEG)):
        got, failed = collect(flipped(SMALL_BLOB, HEADER_SIZE + bad * full + 5, 0x01))
        assert failed
        assert b"".join(got) == SMALL_DATA[: bad * SMALL_SEG]  # exactly the good prefix
        sink = io.BytesIO()
        with pytest.raises(DecryptionError):
            decrypt_stream(
                io.BytesIO(flipped(SMALL_BLOB, HEADER_SIZE + bad * full + 5, 0x01)),
                sink,
                KEY,
                BINDING,
            )
        assert sink.getvalue() == SMALL_DATA[: bad * SMALL_SEG]


def test_truncated_stream_releases_only_segments_followed_by_more_data() -> None:
    full = SMALL_SEG + TAG_SIZE
    for n in range(HEADER_SIZE, len(SMALL_BLOB)):
        got, failed = collect(SMALL_BLOB[:n])
        assert failed
        whole, rest = divmod(n - HEADER_SIZE, full)
        # A complete segment that ends the stream is read as final and fails.
        verified = whole if rest else max(0, whole - 1)
        assert b"".join(got) == SMALL_DATA[: verified * SMALL_SEG]


def test_range_read_covering_a_corrupt_segment_returns_nothing() -> None:
    full = SMALL_SEG + TAG_SIZE
    blob = flipped(SMALL_BLOB, HEADER_SIZE + 2 * full + 1, 0x01)  # segment 2 corrupt
    reader = RangeDecryptor(fetcher(blob), len(blob), KEY, BINDING)
    assert reader.read(0, 32) == SMALL_DATA[:32]  # segments 0-1 are intact
    for start, stop in [(0, 54), (20, 40), (32, 33), (47, 50), (30, 54)]:
        with pytest.raises(DecryptionError):
            reader.read(start, stop)


def test_range_read_of_truncated_blob_is_authentic_until_the_end_is_reached() -> None:
    """The documented caveat (docs/format.md section 10): only the end reveals a cut."""
    cut = SMALL_BLOB[: HEADER_SIZE + 2 * (SMALL_SEG + TAG_SIZE)]
    reader = RangeDecryptor(fetcher(cut), len(cut), KEY, BINDING)
    assert reader.size == 2 * SMALL_SEG  # unauthenticated until the final segment is read
    assert reader.read(0, 16) == SMALL_DATA[:16]  # genuine bytes of the original
    with pytest.raises(DecryptionError):
        reader.read(16, 32)  # segment 1 was not sealed as the last one


def test_short_or_long_fetch_is_rejected() -> None:
    reader = RangeDecryptor(
        lambda o, n: SMALL_BLOB[o : o + n] if o == 0 else SMALL_BLOB[o : o + n - 1],
        len(SMALL_BLOB),
        KEY,
        BINDING,
    )
    with pytest.raises(DecryptionError):
        reader.read(0, 10)
    reader = RangeDecryptor(
        lambda o, n: SMALL_BLOB[o : o + n] if o == 0 else SMALL_BLOB[o : o + n] + b"x",
        len(SMALL_BLOB),
        KEY,
        BINDING,
    )
    with pytest.raises(DecryptionError):
        reader.read(0, 10)


# --- random access and size arithmetic ------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=1500),
    seg=st.integers(16, 200),
    bounds=st.tuples(st.integers(0, 1700), st.integers(0, 1700)),
)
def test_random_access_equals_slicing(data: bytes, seg: int, bounds: tuple[int, int]) -> None:
    blob = encrypt(data, seg)
    log: list[tuple[int, int]] = []
    reader = RangeDecryptor(fetcher(blob, log), len(blob), KEY, BINDING)
    assert reader.size == len(data)
    start, stop = bounds
    log.clear()
    assert reader.read(start, stop) == data[start:stop]
    stop = min(stop, len(data))
    if start < stop:  # exactly the covering segments were fetched (docs/format.md §7)
        first, final = start // seg, (stop - 1) // seg
        ct_start = HEADER_SIZE + first * (seg + TAG_SIZE)
        ct_stop = min(HEADER_SIZE + (final + 1) * (seg + TAG_SIZE), len(blob))
        assert log == [(ct_start, ct_stop - ct_start)]
    else:
        assert log == []


def test_random_access_exhaustive_on_a_small_blob() -> None:
    reader = RangeDecryptor(fetcher(SMALL_BLOB), len(SMALL_BLOB), KEY, BINDING)
    for start in range(len(SMALL_DATA) + 2):
        for stop in range(len(SMALL_DATA) + 3):
            assert reader.read(start, stop) == SMALL_DATA[start:stop]


@given(length=st.integers(0, 10**9), seg=st.integers(16, 2**26))
@settings(max_examples=300, deadline=None)
def test_plaintext_size_inverts_ciphertext_size(length: int, seg: int) -> None:
    n = segment_count(length, seg)
    assert n == max(1, -(-length // seg))
    assert ciphertext_size(length, seg) == HEADER_SIZE + length + TAG_SIZE * n
    assert plaintext_size(ciphertext_size(length, seg), seg) == length


@given(size=st.integers(0, 10**7), seg=st.integers(16, 4096))
@settings(max_examples=300, deadline=None)
def test_plaintext_size_accepts_exactly_the_sizes_writers_produce(size: int, seg: int) -> None:
    # ciphertext_size is strictly increasing: find the one length that could give ``size``.
    candidate = bisect.bisect_left(range(size + 1), size, key=lambda n: ciphertext_size(n, seg))
    produced = ciphertext_size(candidate, seg) == size
    if produced:
        assert plaintext_size(size, seg) == candidate
    else:
        with pytest.raises(DecryptionError):
            plaintext_size(size, seg)


def test_size_rule_examples() -> None:
    s, full = 16, 16 + TAG_SIZE
    assert plaintext_size(HEADER_SIZE + TAG_SIZE, s) == 0
    assert plaintext_size(HEADER_SIZE + full, s) == 16
    assert plaintext_size(HEADER_SIZE + full + TAG_SIZE + 1, s) == 17
    for bad in (0, HEADER_SIZE, HEADER_SIZE + 15, HEADER_SIZE + full + TAG_SIZE):
        with pytest.raises(DecryptionError):
            plaintext_size(bad, s)


# --- writer contract and memory --------------------------------------------------------


def test_writer_rejects_bad_parameters() -> None:
    sink = io.BytesIO()
    for kwargs in (
        {"segment_size": 15},
        {"segment_size": 2**26 + 1},
        {"data_key": KEY[:31]},
        {"salt": bytes(31)},
        {"nonce_prefix": bytes(8)},
        {"binding": Binding("x" * 65536, "c", "r")},
    ):
        args = {"sink": sink, "data_key": KEY, "binding": BINDING, "segment_size": 16}
        args.update(kwargs)
        with pytest.raises(ValueError):
            EncryptingWriter(**args)  # type: ignore[arg-type]


def test_write_after_close_raises_and_close_is_idempotent() -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, BINDING, 16)
    writer.write(b"abc")
    writer.close()
    size = len(sink.getvalue())
    writer.close()
    assert len(sink.getvalue()) == size
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_unclosed_or_aborted_writer_leaves_a_rejected_container() -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, BINDING, 16)
    writer.write(os.urandom(40))  # two full segments sealed, 8 bytes still buffered
    assert_rejected(sink.getvalue())

    sink = io.BytesIO()
    with pytest.raises(RuntimeError), EncryptingWriter(sink, KEY, BINDING, 16) as writer:
        writer.write(os.urandom(100))
        raise RuntimeError("upload aborted")
    assert_rejected(sink.getvalue())


class DiscardSink:
    """A sink that only counts bytes."""

    def __init__(self) -> None:
        self.total = 0

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        n = memoryview(data).nbytes
        self.total += n
        return n


class PatternSource(io.RawIOBase):
    """``size`` bytes of a repeating 4 KiB pattern, produced on demand (nothing held)."""

    BLOCK = memoryview(bytes(range(256)) * 16)

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._left, len(self.BLOCK))
        buf[:n] = self.BLOCK[:n]
        self._left -= n
        return n


def traced_peak(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's allocators while ``fn`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_writer_memory_does_not_grow_with_the_plaintext() -> None:
    chunk = memoryview(bytearray(256 * 1024))
    size = 64 * MiB

    def write_all() -> None:
        sink = DiscardSink()
        with EncryptingWriter(sink, KEY, BINDING, MiB) as writer:
            for _ in range(size // len(chunk)):
                writer.write(chunk)
        assert sink.total == ciphertext_size(size, MiB)

    peak = traced_peak(write_all)
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB for a 64 MiB plaintext"


def test_stream_functions_memory_does_not_grow_with_the_plaintext(tmp_path: Path) -> None:
    size = 64 * MiB
    path = tmp_path / "blob"

    def encrypt_all() -> None:
        with path.open("wb") as out:
            assert encrypt_stream(PatternSource(size), out, KEY, BINDING, MiB) == (  # type: ignore[arg-type]
                ciphertext_size(size, MiB)
            )

    def decrypt_all() -> None:
        sink = DiscardSink()
        with path.open("rb") as src:
            assert decrypt_stream(src, sink, KEY, BINDING) == size
        assert sink.total == size

    for fn in (encrypt_all, decrypt_all):
        peak = traced_peak(fn)
        assert peak < 5 * MiB, f"{fn.__name__}: peak {peak / MiB:.1f} MiB for 64 MiB"

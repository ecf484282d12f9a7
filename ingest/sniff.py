"""Recognise ISO-BMFF/QuickTime video by its bytes, before any decoder sees the file.

:func:`sniff` looks at the first bytes: only an ``ftyp`` box with an MP4, QuickTime or
3GPP *video* brand, or a legacy QuickTime file starting with a ``moov``/``mdat``/
``wide``/``free``/``skip``/``pnot`` atom, is accepted. Everything else is refused with
the closest category (photo, audio, unsupported video format, not a video), which
covers playlists (HLS, ffconcat, SDP), images, archives, text and documents.
Matroska/WebM is refused on purpose: Android camera apps write MP4, and accepting
WebM would expose a second demuxer.

:func:`check_structure` walks the box tree just enough to tell a recording that was
cut off (a box running past the end, no ``moov`` index) or has no picture (no ``vide``
track handler) from one that may be probed. It also refuses, before any decoder runs,
files no tablet camera writes: more tracks than ``max_tracks`` (each one costs ffmpeg
memory and time), and data references (``dref`` entries) that are not
self-contained, i.e. that point at another file or a URL (``file:///etc/passwd``,
``http://127.0.0.1/``) for the samples instead of carrying them.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from ingest.errors import MediaRejected, RejectCategory

R = RejectCategory

_MP4_BRANDS = {b"isom", b"mp41", b"mp42", b"avc1", b"hvc1", b"mmp4", b"MSNV", b"XAVC"}
_MP4_BRANDS |= {b"iso%d" % n for n in range(2, 10)} | {b"M4V ", b"M4VH", b"M4VP"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_PHOTO_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_PHOTO_BRANDS |= {b"avif", b"avis", b"avci", b"crx ", b"jp2 ", b"jpx "}
_LEGACY_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_FOREIGN: tuple[tuple[bytes, RejectCategory, str], ...] = (
    (b"\xff\xd8\xff", R.PHOTO, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", R.PHOTO, "png"),
    (b"GIF8", R.PHOTO, "gif"),
    (b"II*\x00", R.PHOTO, "tiff"),
    (b"MM\x00*", R.PHOTO, "tiff"),
    (b"\x1aE\xdf\xa3", R.UNSUPPORTED_FORMAT, "matroska/webm"),
    (b"FLV\x01", R.UNSUPPORTED_FORMAT, "flv"),
    (b"\x00\x00\x01\xba", R.UNSUPPORTED_FORMAT, "mpeg-ps"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", R.UNSUPPORTED_FORMAT, "asf/wmv"),
    (b"OggS", R.UNSUPPORTED_FORMAT, "ogg"),
    (b"ID3", R.AUDIO_ONLY, "mp3"),
    (b"fLaC", R.AUDIO_ONLY, "flac"),
    (b"#!AMR", R.AUDIO_ONLY, "amr"),
)
_RIFF = {b"AVI ": (R.UNSUPPORTED_FORMAT, "avi"), b"WAVE": (R.AUDIO_ONLY, "wav")}
_RIFF[b"WEBP"] = (R.PHOTO, "webp")


def _video_family(brand: bytes) -> str | None:
    if brand == b"qt  ":
        return "mov"
    if brand[:3] in (b"3gp", b"3g2", b"3ge", b"3gg"):
        return "3gp"
    return "mp4" if brand in _MP4_BRANDS else None


def sniff(head: bytes) -> tuple[str, str]:
    """Classify a file by its first bytes; return ``(container, brand)`` for video we accept.

    Raises:
        MediaRejected: anything that is not MP4/MOV/3GP video, with the closest category.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        (box_size,) = struct.unpack(">I", head[:4])
        major = head[8:12]
        compatible = head[16 : min(max(box_size, 16), len(head))]
        brands = [compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)]
        brand = major.decode("latin-1")
        if (family := _video_family(major)) is not None:
            return family, brand
        if major in _AUDIO_BRANDS:
            raise MediaRejected(R.AUDIO_ONLY, detail=f"audio brand {brand!r}")
        if major in _PHOTO_BRANDS or any(b in _PHOTO_BRANDS for b in brands):
            raise MediaRejected(R.PHOTO, detail=f"image brand {brand!r}")
        # An unknown major brand is fine if it declares compatibility with a video brand.
        for other in brands:
            if (family := _video_family(other)) is not None:
                return family, brand
        raise MediaRejected(R.UNSUPPORTED_FORMAT, detail=f"ftyp brand {brand!r}")
    if len(head) >= 8 and head[4:8] in _LEGACY_QT_ATOMS:
        return "mov", "qt  "
    for magic, category, label in _FOREIGN:
        if head.startswith(magic):
            raise MediaRejected(category, detail=label)
    if head.startswith(b"RIFF") and head[8:12] in _RIFF:
        category, label = _RIFF[head[8:12]]
        raise MediaRejected(category, detail=label)
    if len(head) > 188 and head[0] == head[188] == 0x47:
        raise MediaRejected(R.UNSUPPORTED_FORMAT, detail="mpeg-ts")
    raise MediaRejected(R.NOT_VIDEO, detail="unrecognised signature")


_MAX_TOP_LEVEL_BOXES = 1_000_000


def _box_at(f: BinaryIO, pos: int, end: int) -> tuple[bytes, int, int]:
    """Read the box header at ``pos``; return (type, payload start, box end)."""
    f.seek(pos)
    header = f.read(16)
    if len(header) < 8:
        raise MediaRejected(R.TRUNCATED, detail=f"box header cut at {pos}")
    size, kind = struct.unpack(">I4s", header[:8])
    payload = pos + 8
    if size == 1:
        if len(header) < 16:
            raise MediaRejected(R.TRUNCATED, detail=f"large box header cut at {pos}")
        (size,) = struct.unpack(">Q", header[8:16])
        payload = pos + 16
    elif size == 0:  # "extends to the end of the enclosing container"
        size = end - pos
    if size < payload - pos:
        raise MediaRejected(R.CORRUPT, detail=f"impossible box size at {pos}")
    return kind, payload, pos + size


def _children(f: BinaryIO, start: int, end: int) -> dict[bytes, list[tuple[int, int]]]:
    found: dict[bytes, list[tuple[int, int]]] = {}
    pos = start
    while pos + 8 <= end:
        kind, payload, box_end = _box_at(f, pos, end)
        if box_end > end:
            raise MediaRejected(R.CORRUPT, detail=f"{kind!r} overflows its parent")
        found.setdefault(kind, []).append((payload, box_end))
        pos = box_end
    return found


def _zero_padding(f: BinaryIO, pos: int, size: int) -> bool:
    """Whether the (at most 64 KiB) rest of the file from ``pos`` is all zero bytes."""
    if size - pos > 64 * 1024:
        return False
    f.seek(pos)
    return not any(f.read(size - pos))


#: Data reference entry types (ISO 14496-12 ``url ``/``urn ``; QuickTime ``alis``,
#: ``rsrc``): flag 0x000001 means "the data is in this file"; anything else points away.
_SELF_CONTAINED = 0x000001


def _check_data_references(f: BinaryIO, start: int, end: int) -> None:
    """Refuse a ``dref`` (payload ``start``..``end``) with an entry that is not
    self-contained; the entry count must match the entries present.

    Raises:
        MediaRejected: EXTERNAL_REFERENCE, or CORRUPT for a malformed table.
    """
    f.seek(start)
    header = f.read(8)
    if len(header) < 8:
        raise MediaRejected(R.CORRUPT, detail="short dref")
    (count,) = struct.unpack(">I", header[4:8])
    entries: list[tuple[bytes, int, int]] = []
    pos = start + 8
    while pos + 8 <= end:
        kind, payload, box_end = _box_at(f, pos, end)
        if box_end > end:
            raise MediaRejected(R.CORRUPT, detail="dref entry overflows")
        entries.append((kind, payload, box_end))
        pos = box_end
    if count != len(entries):
        raise MediaRejected(R.CORRUPT, detail=f"dref declares {count}, holds {len(entries)}")
    for kind, payload, box_end in entries:
        f.seek(payload)
        version_flags = f.read(4)
        flags = int.from_bytes(version_flags[1:4], "big") if len(version_flags) == 4 else 0
        if not flags & _SELF_CONTAINED or box_end - payload > 4:
            label = kind.decode("latin-1", errors="replace")
            raise MediaRejected(R.EXTERNAL_REFERENCE, detail=f"dref entry {label!r}")


def check_structure(f: BinaryIO, size: int, *, max_tracks: int = 4) -> None:
    """Walk the top-level boxes of an ISO-BMFF/QuickTime file of ``size`` bytes.

    Raises:
        MediaRejected: a box runs past the end of the file or there is no ``moov``
            (TRUNCATED), a box is malformed (CORRUPT), there are more than
            ``max_tracks`` tracks (TOO_MANY_STREAMS), a data reference points outside
            the file (EXTERNAL_REFERENCE), or no track is video (AUDIO_ONLY or NO_VIDEO).
    """
    pos, count, moov = 0, 0, None
    while pos < size:
        if moov is not None and _zero_padding(f, pos, size):
            break  # some recorders pad a finished file with zeros; nothing follows
        kind, payload, end = _box_at(f, pos, size)
        if not all(32 <= c < 127 or c == 0xA9 for c in kind):
            raise MediaRejected(R.CORRUPT, detail=f"garbage box type at {pos}")
        if end > size:
            raise MediaRejected(R.TRUNCATED, detail=f"{kind!r} box runs past the end of file")
        if kind == b"moov" and moov is None:
            moov = (payload, end)
        count += 1
        if count > _MAX_TOP_LEVEL_BOXES:
            raise MediaRejected(R.CORRUPT, detail="too many top-level boxes")
        pos = end
    if moov is None:
        # Cameras write the index (moov) when recording stops: without it, it never did.
        raise MediaRejected(R.TRUNCATED, detail="no moov box")
    handlers: set[bytes] = set()
    traks = _children(f, *moov).get(b"trak", [])
    if len(traks) > max_tracks:
        raise MediaRejected(R.TOO_MANY_STREAMS, detail=f"{len(traks)} tracks")
    for trak_start, trak_end in traks:
        for mdia in _children(f, trak_start, trak_end).get(b"mdia", []):
            mdia_boxes = _children(f, *mdia)
            for hdlr_start, hdlr_end in mdia_boxes.get(b"hdlr", []):
                if hdlr_end - hdlr_start >= 12:
                    f.seek(hdlr_start + 8)  # version/flags, then pre_defined (ISO) or
                    handlers.add(f.read(4))  # component type (QuickTime): subtype next
            for minf in mdia_boxes.get(b"minf", []):
                for dinf in _children(f, *minf).get(b"dinf", []):
                    for dref in _children(f, *dinf).get(b"dref", []):
                        _check_data_references(f, *dref)
    if b"vide" not in handlers:
        raise MediaRejected(R.AUDIO_ONLY if b"soun" in handlers else R.NO_VIDEO)

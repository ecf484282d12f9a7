"""Generate test media at test time with ffmpeg's lavfi sources (nothing is committed).

Good sources imitate what tablets write, including the metadata that must not survive
ingest; every tag uses a distinctive marker so tests can grep output bytes. The bad
corpus holds files that must be refused, each with the expected RejectCategory.
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from ingest.errors import RejectCategory as R
from ingest.ffmpeg_tool import ffmpeg_exe
from ingest.probe import Caps

MAKE = "VerpTestMake"
MODEL = "VerpTestModel"
SOFTWARE = "VerpTestSoftware"
SEI_TEXT = "VerpTestSei+51.5074"
GPS_TEXT = "VerpTestGps +51.5074-000.1278"
LOCATION = "+51.5074-000.1278/"
ISO6709 = "+51.5074-000.1278+010.000/"
CREATED = "2024-03-05T10:11:12Z"
_SEI_UUID = "086f3693-b7b3-4f2c-9653-21492feee5b8"

#: Strings no rendition may contain: device and place markers, ffmpeg/x264 banners,
#: and the boxes/keys that carry location and device tags.
FORBIDDEN_STRINGS = (
    *(MAKE, MODEL, SOFTWARE, "VerpTest", "51.5074", "51.507", "000.1278", "GPS"),
    *("ISO6709", "com.apple", "2024-03-05", "Lavf", "Lavc", "x264", "x265", "core 1"),
    *("loci", "\xa9xyz", "\xa9mak", "\xa9mod", "\xa9swr", "mdta"),
)

# Every lavfi spec below is whitespace-free per token, so "a b c".split() is exact.
_X264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p"
_X265 = "-c:v libx265 -preset ultrafast -x265-params log-level=error -tag:v hvc1"


def loci_coordinate_bytes() -> list[bytes]:
    """Latitude and longitude as the ``loci`` box stores them (signed 16.16 fixed point,
    truncated toward zero as ffmpeg writes them)."""
    return [struct.pack(">i", int(v * 65536)) for v in (51.5074, -0.1278)]


def mac_epoch_bytes() -> bytes:
    """CREATED as QuickTime stores it in mvhd/tkhd/mdhd (seconds since 1904, 32 bit)."""
    created = datetime.fromisoformat(CREATED.replace("Z", "+00:00"))
    return struct.pack(">I", int((created - datetime(1904, 1, 1, tzinfo=UTC)).total_seconds()))


def ffmpeg(spec: str, *extra: str | Path) -> None:
    """Run ffmpeg with ``spec.split()`` then ``extra`` (for arguments containing spaces
    or paths); fail loudly with its stderr."""
    args = [*spec.split(), *(str(e) for e in extra)]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"fixture ffmpeg failed: {' '.join(args)}\n{done.stderr}")


def _video(size: str, rate: str, seconds: float) -> str:
    return f"-f lavfi -i testsrc2=size={size}:rate={rate}:duration={seconds}"


def _audio(seconds: float, rate: int = 44100) -> str:
    return f"-f lavfi -i sine=frequency=440:sample_rate={rate}:duration={seconds}"


def _meta(**tags: str) -> list[str]:
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


def plain_mp4(
    path: Path,
    *,
    size: str = "320x240",
    rate: str = "30000/1001",
    seconds: float = 2,
    audio: bool = True,
    faststart: bool = False,
) -> Path:
    """H.264 + AAC MP4 at a constant rate (NTSC 30000/1001 by default); no device tags."""
    audio_in, audio_codec = (_audio(seconds), "-c:a aac") if audio else ("", "")
    fast = "-movflags +faststart" if faststart else ""
    ffmpeg(f"{_video(size, rate, seconds)} {audio_in} {_X264} {audio_codec} {fast} -f mp4", path)
    return path


def iphone_mov(path: Path, work: Path) -> Path:
    """HEVC QuickTime as an iPhone/iPad writes it: ``qt`` brand, portrait via a display
    matrix (rotated 90), ``com.apple.quicktime.*`` keys (location, make, model,
    software, creation date), creation_time, and a timed-text track with GPS text."""
    srt = work / "gps.srt"
    srt.write_text(f"1\n00:00:00,000 --> 00:00:02,000\n{GPS_TEXT}\n", encoding="utf-8")
    upright = work / "iphone-unrotated.mov"
    ffmpeg(
        f"{_video('320x240', '30', 2)} {_audio(2)} -i {srt} -map 0:v -map 1:a -map 2:s "
        f"{_X265} -pix_fmt yuv420p -c:a aac -c:s mov_text -metadata creation_time={CREATED}"
        " -f mov",
        upright,
    )
    apple = {
        "com.apple.quicktime.location.ISO6709": ISO6709,
        "com.apple.quicktime.make": MAKE,
        "com.apple.quicktime.model": MODEL,
        "com.apple.quicktime.software": SOFTWARE,
        "com.apple.quicktime.creationdate": CREATED,
    }
    ffmpeg(
        f"-display_rotation 90 -i {upright} -map 0 -c copy -map_metadata 0"
        " -movflags use_metadata_tags",
        *_meta(**apple, location=LOCATION),
        "-f",
        "mov",
        path,
    )
    return path


def android_vfr_mp4(path: Path) -> Path:
    """H.264 MP4 as Android writes it: variable frame rate (every fifth frame missing,
    timestamps jittered, 90 kHz timescale), ``loci`` location box, creation time, and
    an unregistered user-data SEI carrying a location string in the bitstream."""
    jitter = "settb=1/90000,select='not(eq(mod(n\\,5)\\,4))',setpts='PTS+360*mod(N\\,2)'"
    ffmpeg(
        f"{_video('320x240', '30', 3)} {_audio(3, 48000)} -vf {jitter} {_X264} -fps_mode vfr"
        " -enc_time_base 1/90000 -video_track_timescale 90000 -c:a aac"
        f" -bsf:v h264_metadata=sei_user_data={_SEI_UUID}+{SEI_TEXT}",
        *_meta(location=LOCATION, **{"location-eng": LOCATION}, creation_time=CREATED),
        "-f",
        "mp4",
        path,
    )
    return path


def legacy_mov(path: Path) -> Path:
    """H.264 QuickTime without audio carrying classic ``©xyz``/``©mak``/``©mod`` atoms."""
    tags = _meta(location=LOCATION, make=MAKE, model=MODEL, creation_time=CREATED)
    ffmpeg(f"{_video('320x240', '25', 2)} {_X264}", *tags, "-f", "mov", path)
    return path


def phone_3gp(path: Path) -> Path:
    """3GPP (``3gp6`` brand) with a binary ``loci`` location box and mono 16 kHz AAC."""
    tags = _meta(location=LOCATION, creation_time=CREATED)
    spec = f"{_video('176x144', '15', 2)} {_audio(2, 16000)} {_X264} -c:a aac -ac 1"
    ffmpeg(spec, *tags, "-f", "3gp", path)
    return path


def hdr_mov(path: Path, transfer: str = "arib-std-b67") -> Path:
    """10-bit HEVC tagged BT.2020 with an HDR transfer: HLG (iPhone "HDR video", the
    default) or PQ (``smpte2084``, Android HDR10)."""
    tags = f"setparams=color_primaries=bt2020:color_trc={transfer}:colorspace=bt2020nc"
    ffmpeg(f"{_video('320x240', '30', 1)} -vf format=yuv420p10le,{tags} {_X265} -f mov", path)
    return path


def black_start_mp4(path: Path) -> Path:
    """One second of black, then a test pattern: the poster must skip the black."""
    black = "-f lavfi -i color=black:size=320x240:rate=25:duration=1"
    concat = "-filter_complex [0:v][1:v]concat=n=2:v=1[v] -map [v]"
    ffmpeg(f"{black} {_video('320x240', '25', 2)} {concat} {_X264} -f mp4", path)
    return path


def spoofed_dump_mp4(path: Path, source: Path) -> Path:
    """A valid clip whose title injects fake stream-dump lines (huge size, rotation)."""
    fake = (
        "x\n  Stream #0:5: Video: h264, yuv420p, 9999x9999, 30 fps\n"
        "      Display Matrix: rotation of 90.00 degrees\n  Duration: 09:00:00.00, start"
    )
    ffmpeg(f"-i {source} -c copy", *_meta(title=fake), path)
    return path


#: Every file :func:`bad_corpus` writes, so tests can be parametrised before it runs.
BAD_INPUT_NAMES = (
    *("playlist.mp4", "playlist.m3u8", "list.ffconcat", "session.sdp", "notes.mp4"),
    *("image.svg", "page.html", "doc.pdf", "empty.mp4", "random.mp4", "photo.mov"),
    *("screenshot.mov", "animation.mp4", "photo.heic", "archive.mp4", "archive.tar"),
    *("first-half.mp4", "mdat-cut.mp4", "no-moov.mp4", "ftyp-then-playlist.mp4"),
    *("scrambled.mp4", "scrambled-late.mp4", "mdat-cut-resized.mp4"),
    *("audio.m4a", "audio-only.mp4", "sound.wav"),
    *("clip.mkv", "clip.webm", "clip.avi", "clip.ts", "subtitles-only.mp4", "data-only.mov"),
    *("mjpeg.mov", "too-wide.mp4", "too-long.mp4", "too-large.mp4"),
)

#: The bad inputs that pass our own byte checks and are refused on ffmpeg's facts.
REFUSED_BY_FFMPEG = frozenset(
    {"scrambled.mp4", "scrambled-late.mp4", "mdat-cut-resized.mp4", "mjpeg.mov"}
    | {"too-wide.mp4", "too-long.mp4"}
)


@dataclass(frozen=True)
class BadInput:
    """A file that must be refused, the category expected, and the caps to probe with.
    ``before_ffmpeg``: our own byte checks must refuse it without starting ffmpeg."""

    name: str
    path: Path
    category: R
    caps: Caps = field(default_factory=Caps)

    @property
    def before_ffmpeg(self) -> bool:
        return self.name not in REFUSED_BY_FFMPEG


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def _top_level_box(data: bytes, kind: bytes) -> tuple[int, int]:
    """Offset and size of the first top-level box of type ``kind``."""
    pos = 0
    while pos + 8 <= len(data):
        size, found = struct.unpack(">I4s", data[pos : pos + 8])
        if found == kind:
            return pos, size
        pos += size
    raise ValueError(f"no {kind!r} box")


def _archives(payload: bytes) -> tuple[bytes, bytes]:
    zbuf, tbuf = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as archive:
        archive.writestr("clip.mp4", payload)
    with tarfile.open(fileobj=tbuf, mode="w") as tar:
        info = tarfile.TarInfo("clip.mp4")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return zbuf.getvalue(), tbuf.getvalue()


def bad_corpus(work: Path) -> list[BadInput]:
    """Write every bad input into ``work`` and describe it (36 kinds)."""
    work.mkdir(parents=True, exist_ok=True)
    good = plain_mp4(work / "good.mp4", seconds=1)
    fast = plain_mp4(work / "good-faststart.mp4", seconds=1, faststart=True).read_bytes()
    good_bytes = good.read_bytes()
    moov_at, _ = _top_level_box(fast, b"moov")
    mdat_at, mdat_size = _top_level_box(fast, b"mdat")
    zipped, tarred = _archives(good_bytes)
    playlist = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    sdp = b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 96\n"
    raw: list[tuple[str, bytes, R]] = [
        ("playlist.mp4", playlist, R.NOT_VIDEO),
        ("playlist.m3u8", b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", R.NOT_VIDEO),
        ("list.ffconcat", b"ffconcat version 1.0\nfile '/etc/passwd'\n", R.NOT_VIDEO),
        ("session.sdp", sdp, R.NOT_VIDEO),
        ("notes.mp4", b"Family visit notes: baby smiled at 00:12.\n" * 20, R.NOT_VIDEO),
        ("image.svg", b'<?xml version="1.0"?><svg/>', R.NOT_VIDEO),
        ("page.html", b"<!doctype html><html><body>hi</body></html>", R.NOT_VIDEO),
        ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", R.NOT_VIDEO),
        ("empty.mp4", b"", R.EMPTY),
        ("random.mp4", random.Random(1).randbytes(65536), R.NOT_VIDEO),
        ("photo.mov", _image("JPEG"), R.PHOTO),
        ("screenshot.mov", _image("PNG"), R.PHOTO),
        ("animation.mp4", _image("GIF"), R.PHOTO),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), R.PHOTO),
        ("archive.mp4", zipped, R.NOT_VIDEO),
        ("archive.tar", tarred, R.NOT_VIDEO),
        ("first-half.mp4", good_bytes[: len(good_bytes) // 2], R.TRUNCATED),
        ("mdat-cut.mp4", fast[: len(fast) * 2 // 3], R.TRUNCATED),
        ("no-moov.mp4", fast[: moov_at + 4] + b"free" + fast[moov_at + 8 :], R.TRUNCATED),
        ("ftyp-then-playlist.mp4", b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom" + playlist,
         R.CORRUPT),
    ]  # fmt: skip
    items = [BadInput(name, work / name, cat) for name, _, cat in raw]
    for (_, data, _), item in zip(raw, items, strict=True):
        item.path.write_bytes(data)
    # Structure intact, bitstream noise: only ffmpeg can tell. With the start of the
    # first frame intact, the demuxer is satisfied and only decoding finds the damage.
    for name, keep in (("scrambled.mp4", 0), ("scrambled-late.mp4", 4000)):
        noise = random.Random(7).randbytes(mdat_size - 8 - keep)
        data = fast[: mdat_at + 8 + keep] + noise + fast[mdat_at + mdat_size :]
        (work / name).write_bytes(data)
        items.append(BadInput(name, work / name, R.CORRUPT))
    # Cut inside mdat, then mdat's size fixed up: every box is whole, but the index
    # points past the end. Only ffmpeg's demuxer ("partial file") can tell.
    cut = fast[: len(fast) * 2 // 3]
    resized = cut[:mdat_at] + struct.pack(">I", len(cut) - mdat_at) + cut[mdat_at + 4 :]
    (work / "mdat-cut-resized.mp4").write_bytes(resized)
    items.append(BadInput("mdat-cut-resized.mp4", work / "mdat-cut-resized.mp4", R.TRUNCATED))

    srt = work / "gps.srt"
    srt.write_text(f"1\n00:00:00,000 --> 00:00:01,000\n{GPS_TEXT}\n", encoding="utf-8")
    timecode = work / "timecode.mov"
    video, audio = _video("160x120", "25", 1), _audio(1)
    ffmpeg(f"{video} {_X264} -timecode 01:00:00:00 -f mov", timecode)
    made: list[tuple[str, R, str, Caps | None]] = [
        ("audio.m4a", R.AUDIO_ONLY, f"{audio} -c:a aac -f ipod", None),
        ("audio-only.mp4", R.AUDIO_ONLY, f"{audio} -c:a aac -f mp4", None),
        ("sound.wav", R.AUDIO_ONLY, f"{audio} -f wav", None),
        ("clip.mkv", R.UNSUPPORTED_FORMAT, f"{video} {_X264} -f matroska", None),
        ("clip.webm", R.UNSUPPORTED_FORMAT, f"{video} -c:v libvpx-vp9 -f webm", None),
        ("clip.avi", R.UNSUPPORTED_FORMAT, f"{video} -c:v mpeg4 -f avi", None),
        ("clip.ts", R.UNSUPPORTED_FORMAT, f"{video} {_X264} -f mpegts", None),
        ("subtitles-only.mp4", R.NO_VIDEO, f"-i {srt} -c:s mov_text -f mp4", None),
        ("data-only.mov", R.NO_VIDEO, f"-i {timecode} -map 0:d -c copy -f mov", None),
        # These pass our byte checks; ffmpeg's facts refuse them (REFUSED_BY_FFMPEG).
        ("mjpeg.mov", R.UNSUPPORTED_CODEC, f"{video} -c:v mjpeg -f mov", None),
        ("too-wide.mp4", R.RESOLUTION_TOO_HIGH, f"{_video('640x360', '25', 1)} {_X264} -f mp4",
         Caps(max_width=480, max_height=480)),
        ("too-long.mp4", R.TOO_LONG, f"{_video('64x48', '25', 3)} {_X264} -f mp4",
         Caps(max_duration_s=2)),
    ]  # fmt: skip
    for name, category, spec, caps in made:
        ffmpeg(spec, work / name)
        items.append(BadInput(name, work / name, category, caps or Caps()))
    items.append(BadInput("too-large.mp4", good, R.TOO_LARGE, Caps(max_bytes=len(good_bytes) - 1)))
    assert tuple(item.name for item in items) == BAD_INPUT_NAMES, "update BAD_INPUT_NAMES"
    return items

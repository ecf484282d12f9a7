"""Media for the ingest tests, generated once per session with ffmpeg's lavfi sources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.probe import MediaInfo, probe
from ingest.transcode import transcode
from tests import media

#: Sources imitating tablet recordings, by name.
SOURCES: dict[str, Callable[[Path, Path], Path]] = {
    "plain": lambda d, _w: media.plain_mp4(d / "plain.mp4"),
    "iphone": lambda d, w: media.iphone_mov(d / "iphone.mov", w),
    "android": lambda d, _w: media.android_vfr_mp4(d / "android.mp4"),
    "legacy": lambda d, _w: media.legacy_mov(d / "legacy.mov"),
    "3gp": lambda d, _w: media.phone_3gp(d / "phone.3gp"),
    "slowmo": lambda d, _w: media.plain_mp4(d / "slowmo.mp4", rate="120", seconds=1),
    "hdr": lambda d, _w: media.hdr_mov(d / "hdr.mov"),
    "pq": lambda d, _w: media.hdr_mov(d / "pq.mov", "smpte2084"),
}


@dataclass(frozen=True)
class Rendition:
    """A source, its probe, the transcoded rendition, its probe, and reported progress."""

    source: Path
    source_info: MediaInfo
    path: Path
    info: MediaInfo
    progress: tuple[float, ...]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest-media")


@pytest.fixture(scope="session")
def sources(media_dir: Path) -> dict[str, Path]:
    work = media_dir / "work"
    work.mkdir()
    return {name: make(media_dir, work) for name, make in SOURCES.items()}


@pytest.fixture(scope="session")
def renditions(sources: dict[str, Path], media_dir: Path) -> dict[str, Rendition]:
    out: dict[str, Rendition] = {}
    for name, source in sources.items():
        info = probe(source)
        path = media_dir / f"{name}-playback.mp4"
        seen: list[float] = []
        transcode(source, path, info, progress=seen.append)
        out[name] = Rendition(source, info, path, probe(path), tuple(seen))
    return out


@pytest.fixture(scope="session")
def bad_inputs(media_dir: Path) -> dict[str, media.BadInput]:
    return {item.name: item for item in media.bad_corpus(media_dir / "bad")}

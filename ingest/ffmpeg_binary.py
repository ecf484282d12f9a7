"""Which ffmpeg verp runs: one binary, known, chosen explicitly (never found on PATH).

By default it is the binary shipped inside the imageio-ffmpeg wheel, located in the
wheel's own directory (not through ``imageio_ffmpeg.get_ffmpeg_exe()``, which would
honour ``IMAGEIO_FFMPEG_EXE`` and fall back to whatever ``ffmpeg`` is on PATH). Another
binary is used only when the ``ingest.ffmpeg`` setting (``VERP_FFMPEG``) names it, and
only if its version is at least :data:`MIN_VERSION`, the oldest one the test suite has
run against. An older ffmpeg silently changes what verp produces (Debian 12's 5.1 lacks
``-display_rotation`` and cuts moments one frame long), so it is refused at start-up.

:func:`select` is called once by the composition root at start-up (``verp serve``,
``verp worker``, ``verp ingest`` and every other command that builds services);
until then, and in tests, the wheel's binary is used.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ToolMissing

#: Oldest ffmpeg the suite is run against (the imageio-ffmpeg wheel's 9.0).
MIN_VERSION = (9, 0)
#: How the setting is named in error messages.
SETTING = "ingest.ffmpeg (VERP_FFMPEG)"
_VERSION_RE = re.compile(r"^ffmpeg version n?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class FfmpegBinary:
    """An ffmpeg executable whose version has been read and accepted."""

    path: str
    version: tuple[int, int, int]
    origin: str  # "wheel" | "configured"

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


_selected: FfmpegBinary | None = None


@functools.cache
def wheel_exe() -> str:
    """The path of the ffmpeg binary inside the imageio-ffmpeg wheel.

    Raises:
        ToolMissing: the wheel is not installed or ships no binary for this platform.
    """
    try:
        from importlib.resources import files

        from imageio_ffmpeg._definitions import FNAME_PER_PLATFORM, get_platform

        name = FNAME_PER_PLATFORM[get_platform()]
        exe = Path(str(files("imageio_ffmpeg.binaries").joinpath(name)))
    except Exception as exc:  # ImportError, KeyError (platform), anything the wheel raises
        raise ToolMissing("the imageio-ffmpeg wheel has no ffmpeg for this platform") from exc
    if not exe.is_file():
        raise ToolMissing(f"the imageio-ffmpeg wheel's ffmpeg is missing ({exe})")
    return str(exe)


def parse_version(banner: str) -> tuple[int, int, int] | None:
    """The (major, minor, patch) in the first line of ``ffmpeg -version``, if it has one
    (release builds do; builds from a git snapshot, ``N-12345-g...``, do not)."""
    m = _VERSION_RE.match(banner.strip())
    return (int(m[1]), int(m[2]), int(m[3] or 0)) if m else None


@functools.cache
def inspect(path: str, origin: str) -> FfmpegBinary:
    """Run ``path -version`` and accept the binary if it is recent enough (cached).

    Raises:
        ToolMissing: it cannot be run, its version cannot be read, or it is older than
            :data:`MIN_VERSION`; the message names the setting to change.
    """
    where = "the imageio-ffmpeg wheel's ffmpeg" if origin == "wheel" else f"{SETTING} = {path!r}"
    if origin == "configured" and not os.path.isabs(path):
        raise ToolMissing(f"{where}: give an absolute path (PATH is never searched)")
    try:
        done = subprocess.run(
            [path, "-hide_banner", "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"{where}: cannot run it ({exc})") from exc
    version = parse_version(done.stdout.decode("utf-8", errors="replace"))
    wanted = ".".join(str(part) for part in MIN_VERSION)
    if done.returncode != 0 or version is None:
        raise ToolMissing(f"{where}: cannot read its version; verp needs ffmpeg {wanted} or newer")
    if version[:2] < MIN_VERSION:
        found = ".".join(str(part) for part in version)
        raise ToolMissing(
            f"{where} is version {found}; verp needs ffmpeg {wanted} or newer. "
            f"Unset {SETTING} to use the ffmpeg of the imageio-ffmpeg wheel, or point it "
            "at a newer build."
        )
    return FfmpegBinary(path=path, version=version, origin=origin)


def select(configured: Path | str | None) -> FfmpegBinary:
    """Choose the ffmpeg for this process: ``configured`` if given, else the wheel's.

    Checks the version and makes the choice what :func:`ffmpeg_exe` returns from now on.

    Raises:
        ToolMissing: the binary is unusable (see :func:`inspect`); the choice is unchanged.
    """
    global _selected
    chosen = inspect(str(configured), "configured") if configured else inspect(wheel_exe(), "wheel")
    _selected = chosen
    return chosen


def ffmpeg_exe() -> str:
    """The ffmpeg every run uses: the one :func:`select` chose, else the wheel's.

    Raises:
        ToolMissing: nothing was selected and the wheel has no binary.
    """
    return _selected.path if _selected is not None else wheel_exe()

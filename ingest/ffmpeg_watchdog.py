"""A watchdog over ffmpeg's ``-progress`` output: kill it when it stalls or overruns.

ffmpeg run with ``-progress pipe:1`` prints ``key=value`` lines every half second
(``frame=``, ``out_time_us=``, ..., ``progress=continue|end``). The watchdog reads them
and answers, whenever asked, whether ffmpeg must be stopped:

* **stalled**: neither the output frame count nor the output time has moved for
  ``stall_s`` seconds (a decoder spinning on a crafted bitstream, a hung filter).
  Once the declared frames are all out (``expected_frames``), ffmpeg goes quiet while
  it rewrites the file with the index first (``+faststart``, a plain copy): from then
  on only the wall-clock timeout applies;
* **over budget**: more output frames than the transcode declared before it started,
  or output time past the declared duration (plus slack): the input lied to the probe.

:func:`ingest.ffmpeg_tool.run` asks it several times a second from its own thread, so
a silent ffmpeg (no lines at all) is caught too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ingest.errors import ToolStalled, TranscodeError, WorkExceeded


class ProgressWatchdog:
    """Tracks one ffmpeg run's progress against its declared work.

    ``max_frames`` / ``max_out_time_us`` are the most output the run may produce (None:
    unchecked); ``stall_s`` is how long progress may stand still before
    ``expected_frames`` are out. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        stall_s: float,
        max_frames: int | None = None,
        max_out_time_us: int | None = None,
        expected_frames: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stall_s <= 0:
            raise ValueError("stall_s must be positive")
        self.stall_s = stall_s
        self.max_frames = max_frames
        self.max_out_time_us = max_out_time_us
        self.expected_frames = expected_frames
        self._clock = clock
        self._lock = threading.Lock()
        self.frames = 0
        self.out_time_us = 0
        self.finished = False
        self._moved_at = clock()

    def feed(self, line: str) -> None:
        """Take one ``-progress`` line (other lines are ignored)."""
        key, _, value = line.strip().partition("=")
        value = value.strip()
        with self._lock:
            if key == "frame" and value.isdigit() and int(value) > self.frames:
                self.frames = int(value)
                self._moved_at = self._clock()
            elif key == "out_time_us" and value.isdigit() and int(value) > self.out_time_us:
                self.out_time_us = int(value)
                self._moved_at = self._clock()
            elif key == "progress" and value == "end":
                self.finished = True

    def verdict(self) -> TranscodeError | None:
        """The error to stop ffmpeg with, or None while it is within bounds."""
        with self._lock:
            if self.max_frames is not None and self.frames > self.max_frames:
                return WorkExceeded(
                    f"ffmpeg wrote {self.frames} frames, more than the {self.max_frames} "
                    "declared before it started"
                )
            if self.max_out_time_us is not None and self.out_time_us > self.max_out_time_us:
                return WorkExceeded(
                    f"ffmpeg reached {self.out_time_us / 1e6:.1f} s of output, past the "
                    f"{self.max_out_time_us / 1e6:.1f} s declared before it started"
                )
            idle = self._clock() - self._moved_at
            if not self.finished and not self._all_out() and idle > self.stall_s:
                return ToolStalled(f"ffmpeg made no progress for {idle:.0f} s")
        return None

    def _all_out(self) -> bool:
        """Whether the declared frames are out, up to rounding (caller holds the lock)."""
        if self.expected_frames is None:
            return False
        return self.frames >= self.expected_frames - max(2, self.expected_frames // 100)

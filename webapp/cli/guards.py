"""Process guards for the commands that hold plaintext footage (`verp ingest --wait`,
`verp worker`, `verp clips export`).

* :func:`stop_signals_raise` turns SIGTERM and SIGHUP into ``SystemExit(128 + signal)``
  and SIGINT into ``KeyboardInterrupt`` in the main thread, so every ``finally`` and
  ``with`` block on the way out runs: the job workspace is removed, the ffmpeg child is
  killed, a partial export is deleted, the clip's claim is handed back. (By default
  SIGTERM ends a Python process on the spot and none of that happens.) Further stop
  signals are ignored until the block has unwound, so a second Ctrl-C cannot cut the
  clean-up short; SIGKILL still works.
* it also sets the umask to 0o077, so any file a library or a tool creates (ffmpeg's
  outputs, Pillow's JPEGs, SQLite's journals) is private to the user even where the
  code does not pass a mode.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from config import Settings

PRIVATE_UMASK = 0o077
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def partials_dir(settings: Settings) -> Path:
    """The registry of partial export files (storage.private_output) of this home."""
    return settings.home / "partials"


def _ignore_further() -> None:
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    _ignore_further()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While the block runs: private umask, and stop signals raise (module docstring).

    Must be entered on the main thread (Python delivers signals only there).
    """
    old_umask = os.umask(PRIVATE_UMASK)
    previous: dict[signal.Signals, Any] = {}
    for stop in _STOP_SIGNALS:
        previous[stop] = signal.signal(stop, _raise_stop)
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        os.umask(old_umask)


def exit_status_for(signum: int | None) -> int:
    """The conventional exit status of a process stopped by ``signum`` (0 for None)."""
    return 0 if signum is None else 128 + signum

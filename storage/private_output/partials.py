"""The fallback of :class:`PrivateOutput` where ``O_TMPFILE`` is unavailable: named
partial files, each recorded in a registry so a later process can remove it.

Layout of a registry (e.g. ``<VERP_HOME>/partials``, mode 0700)::

    <random>.partial    names one partial file (its absolute path, UTF-8); flock()ed
                        by the writing process for as long as the file exists
    .new-<random>       an entry being set up (renamed to ``*.partial`` once locked)

A partial file is created only after its entry is in place, and the entry is removed
only after the file is gone; so whatever kills the writer, every partial file it left
is named by an unlocked entry. :func:`sweep_partials` removes those files (the kernel
drops an ``flock`` when its process dies, so a lock that can be taken belongs to
nobody) and never touches a partial file whose writer is still running.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
import time
from pathlib import Path

#: Name prefix of every partial file; the sweep removes nothing else.
PARTIAL_PREFIX = ".verp-partial-"
_ENTRY_SUFFIX = ".partial"
_NEW_PREFIX = ".new-"
#: An entry still being set up is left alone this long (its writer may be mid-way).
_NEW_GRACE_S = 60.0


def partial_name() -> str:
    """A fresh, unguessable partial-file name."""
    return f"{PARTIAL_PREFIX}{secrets.token_hex(16)}"


class Registration:
    """A locked registry entry naming one partial file; :meth:`close` removes it."""

    def __init__(self, entry: Path, fd: int) -> None:
        self._entry = entry
        self._fd: int | None = fd

    def close(self) -> None:
        """Remove the entry and drop its lock (idempotent). Call once the file is gone."""
        if self._fd is None:
            return
        try:
            self._entry.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def register(registry: Path, partial: Path) -> Registration:
    """Record that this process is about to create ``partial`` (an absolute path).

    Raises:
        OSError: the registry cannot be created or written.
    """
    _ensure_registry(registry)
    token = secrets.token_hex(16)
    fresh = registry / f"{_NEW_PREFIX}{token}"
    fd = os.open(fresh, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, os.fsencode(str(partial)))
        os.fsync(fd)
        entry = registry / f"{token}{_ENTRY_SUFFIX}"
        os.rename(fresh, entry)  # the lock belongs to the inode, so it moves along
    except BaseException:
        fresh.unlink(missing_ok=True)
        os.close(fd)
        raise
    return Registration(entry, fd)


def sweep_partials(registry: Path) -> list[str]:
    """Remove every partial file whose writer is gone, and its entry.

    Called at start-up by the commands that write plaintext outputs (``verp clips
    export``, ``verp worker``). Returns the paths removed. Entries of running writers
    are left alone.

    Raises:
        OSError: the registry exists but cannot be read.
    """
    if not registry.is_dir():
        return []
    removed: list[str] = []
    for entry in sorted(registry.iterdir()):
        if entry.name.startswith(_NEW_PREFIX):
            _drop_abandoned_new(entry)
            continue
        if not entry.name.endswith(_ENTRY_SUFFIX) or entry.is_symlink():
            continue
        try:
            fd = os.open(entry, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            target = Path(os.fsdecode(os.read(fd, 4096)))
            if _remove_partial(target):
                removed.append(str(target))
            entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed


def _remove_partial(path: Path) -> bool:
    """Unlink ``path`` if it is one of our partial files; returns whether it was."""
    if not path.is_absolute() or not path.name.startswith(PARTIAL_PREFIX):
        return False
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return False
    path.unlink(missing_ok=True)
    return True


def _drop_abandoned_new(entry: Path) -> None:
    """An entry killed before it was complete names no file yet: remove it when old."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - entry.lstat().st_mtime >= _NEW_GRACE_S:
            entry.unlink(missing_ok=True)


def _ensure_registry(registry: Path) -> None:
    registry.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = registry.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"partial-file registry {registry} is not a directory of ours")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(registry, 0o700)

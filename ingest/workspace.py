"""Private job workspaces: the only place plaintext footage ever touches a disk.

Layout::

    <settings.workspace_dir>/        mode 0700, created on first use
        <label>-<random>/            mode 0700, one per running job
            .lock                    flock()ed by the job's process while it runs
            ...                      decrypted source, renditions, thumbnails: each
                                     created 0600 by us (:func:`private_file`,
                                     :func:`write_private`), or reserved 0600 before
                                     ffmpeg writes it (:func:`reserve`)

A job's directory is removed when the job ends, whether it succeeded or failed, and by
:func:`remove_live` when its process is stopping (SIGTERM/SIGINT). A worker that was
killed (SIGKILL, OOM, power loss) cannot clean up, so every worker calls
:func:`clean_stale` on start. The ``.lock`` file tells a stale directory from a
live one: the kernel drops an ``flock`` when its process dies, so a directory whose
lock can be taken belongs to nobody and is removed (after killing any ffmpeg the dead
worker left running in it: ffmpeg ignores SIGPIPE and would run on), while one held by
another running worker on the same machine is left alone.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.errors import IngestError

LOCK_NAME = ".lock"
#: Job directories of this process that are in use, for :func:`remove_live`.
_LIVE: set[Path] = set()
_LIVE_LOCK = threading.Lock()
_LABEL = re.compile(r"^[a-z0-9-]{1,40}$")
_UNLOCKED_GRACE_S = 60.0
#: How long :func:`remove_live` waits for running jobs to leave their directories.
REMOVE_WAIT_S = 5.0
#: Set by :func:`remove_live`: the process is stopping and starts no new job directory.
_CLOSED = threading.Event()


class WorkspaceError(IngestError):
    """The workspace root is unusable (wrong owner or mode, not a directory, I/O error)."""


def ensure_root(root: Path) -> Path:
    """Create the workspace root with mode 0700, or tighten an existing one to 0700.

    Raises:
        WorkspaceError: the path exists but is not a directory owned by this user.
    """
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = root.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(f"workspace {root} is not a directory")
        if info.st_uid != os.getuid():
            raise WorkspaceError(f"workspace {root} belongs to another user")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(root, 0o700)
    except OSError as exc:
        raise WorkspaceError(f"workspace {root} is unusable: {exc.strerror}") from exc
    return root


@contextmanager
def job_workspace(root: Path, label: str) -> Iterator[Path]:
    """A fresh 0700 directory for one job, removed with its contents when the block ends.

    ``label`` (lowercase letters, digits, dashes) names the kind of job, e.g. ``clip``;
    it never carries ids or names. Raises WorkspaceError if the directory cannot be made.
    """
    if not _LABEL.match(label):
        raise ValueError(f"invalid workspace label {label!r}")
    if _CLOSED.is_set():
        raise WorkspaceError("this process is stopping; no new job workspace")
    ensure_root(root)
    try:
        # mkdtemp creates the directory with mode 0700 and an unguessable name.
        path = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=root))
        lock_fd = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise WorkspaceError(f"cannot create a job workspace: {exc.strerror}") from exc
    with _LIVE_LOCK:
        _LIVE.add(path)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(lock_fd)
            with _LIVE_LOCK:
                _LIVE.discard(path)


def remove_live(wait_s: float = REMOVE_WAIT_S) -> int:
    """Stop the tools still working in this process's job directories, remove the
    directories, and refuse new ones; returns how many were removed.

    For a worker that is shutting down without waiting for its jobs (SIGTERM): their
    threads die with the process, so nothing else would remove the plaintext before
    the next worker start. A job thread may still be running meanwhile (and could make
    a file in its directory while it is being removed), so the removal is repeated
    until every job has left its workspace block or ``wait_s`` has passed.
    """
    _CLOSED.set()
    removed: set[Path] = set()
    deadline = time.monotonic() + wait_s
    while True:
        with _LIVE_LOCK:
            paths = list(_LIVE)
        for path in paths:
            _kill_users(path)
            shutil.rmtree(path, ignore_errors=True)
            removed.add(path)
        if not paths or time.monotonic() >= deadline:
            return len(removed)
        time.sleep(0.05)


def reopen() -> None:
    """Allow new job directories again after :func:`remove_live` (tests, ``--once``)."""
    _CLOSED.clear()


def private_file(path: Path) -> int:
    """Open a new file for writing with mode 0600 (fails if it exists); returns the fd."""
    return os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def reserve(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 for a tool to write (ffmpeg truncates an
    existing output and keeps its mode), so its output is private whatever the umask.
    Returns ``path``.

    Raises:
        OSError: it exists or cannot be created.
    """
    os.close(private_file(path))
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, replacing the file's content if it
    exists (never following a symlink).

    Raises:
        OSError: the file cannot be written.
    """
    flags = os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o600), "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode otherwise
        out.write(data)


def clean_stale(root: Path) -> list[str]:
    """Remove every job directory under ``root`` whose owning process is gone.

    Called by each worker before it takes jobs. Returns the names it removed (directory
    names only: they carry no ids). Directories of live jobs (lock held) are kept.

    Raises:
        WorkspaceError: the root is unusable.
    """
    ensure_root(root)
    removed: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            # Nothing but job directories belongs here; a stray file may be plaintext.
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
            continue
        if _held_by_live_job(entry):
            continue
        _kill_users(entry)
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def _kill_users(path: Path) -> None:
    """SIGKILL our own processes whose command line names ``path``.

    ffmpeg ignores SIGPIPE, so one started by a worker that was killed runs on to the
    end of its input, writing plaintext into the dead job's directory. Only Linux
    (``/proc``); the directory name is unguessable, so nothing else names it.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return
    needle = f"{path.resolve()}/".encode()  # tools get absolute paths of files inside
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to inspect


def _held_by_live_job(path: Path) -> bool:
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        # Either a job that is between mkdtemp() and taking its lock (moments ago), or
        # one killed in that gap: only the age tells them apart.
        try:
            return time.time() - path.stat().st_mtime < _UNLOCKED_GRACE_S
        except FileNotFoundError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock we may just have taken
    return False


def is_empty(root: Path) -> bool:
    """Whether no job directory (live or stale) exists under ``root``."""
    return not root.exists() or not any(root.iterdir())

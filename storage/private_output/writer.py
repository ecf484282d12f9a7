"""A plaintext output file that gets its name only once it is complete.

Two ways, chosen when the file is opened:

* **unnamed** (Linux, a file system with ``O_TMPFILE``): the data goes into an inode
  with no name, mode 0600, in the target's directory. :meth:`PrivateOutput.publish`
  gives it the target's name with ``linkat`` (through ``/proc/self/fd``). Until then
  nothing can open it; if the process dies for any reason, the kernel frees it.
* **partial** (anywhere else): a 0600 file named ``.verp-partial-<random>`` beside the
  target, recorded in a registry first (storage.private_output.partials). It is
  removed when the writer is discarded (any exception, SIGTERM/SIGINT turned into an
  exception by the caller) and, after SIGKILL or a power cut, by the next
  :func:`~storage.private_output.partials.sweep_partials`.

Publishing never replaces an existing file: ``link`` fails if the name exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from storage.errors import ValidationError
from storage.private_output.partials import Registration, partial_name, register

#: errno values meaning "this file system cannot do unnamed files (or link them)".
_UNSUPPORTED = frozenset(
    {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV, errno.EPERM}
)
_PROC_FD = Path("/proc/self/fd")


class PrivateOutput:
    """A new file of mode 0600 that appears as ``target`` only on :meth:`publish`.

    Use as a context manager: leaving the block without publishing discards the data.
    ``partials`` is the registry directory of the fallback; ``unnamed=False`` forces
    the fallback (for tests of it).

    Raises:
        ValidationError: ``target`` exists already, names no file, or its folder does
            not exist.
        OSError: the folder cannot be opened or written.
    """

    def __init__(self, target: Path, *, partials: Path, unnamed: bool = True) -> None:
        if not target.name or target.name in (".", ".."):
            raise ValidationError(f"{target} does not name a file")
        if os.path.lexists(target):
            raise ValidationError(f"{target} exists; choose a new file name")
        self.target = target
        self._dir = target.parent.resolve()
        try:
            self._dir_fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise ValidationError(f"{target.parent} is not an existing folder") from None
        self._partial: str | None = None
        self._registration: Registration | None = None
        self._published = False
        self._fd: int | None = None
        self._file: BinaryIO | None = None
        try:
            fd = _open_unnamed(self._dir_fd) if unnamed else None
            if fd is None:
                fd = self._open_partial(partials)
        except BaseException:
            self._release()
            raise
        self._fd = fd
        self._file = os.fdopen(fd, "wb", closefd=False)

    def _open_file(self) -> tuple[int, BinaryIO]:
        if self._fd is None or self._file is None:
            raise ValueError(f"output {self.target} is already closed")
        return self._fd, self._file

    @property
    def unnamed(self) -> bool:
        """Whether the data lives in an unnamed inode (no partial file exists)."""
        return self._partial is None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; returns its length."""
        return self._open_file()[1].write(data)

    def publish(self) -> None:
        """Flush to disk and give the file its name, then close it.

        Raises:
            ValidationError: a file of that name appeared meanwhile (the data is
                discarded; nothing is overwritten).
            OSError: the link or the flush failed (the data is discarded).
        """
        try:
            fd, file = self._open_file()
            file.flush()
            os.fsync(fd)
            name = self.target.name
            if self._partial is None:
                os.link(_PROC_FD / str(fd), name, dst_dir_fd=self._dir_fd, follow_symlinks=True)
            else:
                os.link(
                    self._partial,
                    name,
                    src_dir_fd=self._dir_fd,
                    dst_dir_fd=self._dir_fd,
                    follow_symlinks=False,
                )
            self._published = True
            os.fsync(self._dir_fd)
        except FileExistsError:
            self.discard()
            raise ValidationError(f"{self.target} exists; choose a new file name") from None
        except BaseException:
            self.discard()
            raise
        self._release()

    def discard(self) -> None:
        """Drop the data (idempotent): the unnamed inode is freed, a partial file removed."""
        self._release()

    def _open_partial(self, registry: Path) -> int:
        name = partial_name()
        self._registration = register(registry, self._dir / name)
        fd = os.open(
            name,
            os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
            0o600,
            dir_fd=self._dir_fd,
        )
        self._partial = name
        return fd

    def _release(self) -> None:
        """Close everything; remove the partial file and its registry entry."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._partial is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._partial, dir_fd=self._dir_fd)
            self._partial = None
        if self._registration is not None:
            self._registration.close()
            self._registration = None
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def __enter__(self) -> PrivateOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._published:
            self.discard()


def _open_unnamed(dir_fd: int) -> int | None:
    """An unnamed 0600 file in the directory, or None if it could not later be linked.

    The probe links a second, empty unnamed file under a random name and removes it:
    a file system (or a missing ``/proc``) that refuses that would otherwise be found
    out only after all the data was written.
    """
    flags = os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC
    try:
        probe = os.open(".", flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    name = f".verp-probe-{secrets.token_hex(16)}"
    try:
        os.link(_PROC_FD / str(probe), name, dst_dir_fd=dir_fd, follow_symlinks=True)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    else:
        os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(probe)
    return os.open(".", flags, 0o600, dir_fd=dir_fd)

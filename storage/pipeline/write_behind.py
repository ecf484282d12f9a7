"""Write-behind: hand filled buffers to a thread that writes them, in order, to a sink.

Writing a file costs kernel copies and page-cache allocation with the GIL released,
so on a second core it overlaps the cipher work of the next segment. A fixed pool of
reusable buffers bounds memory (``depth`` buffers) and applies back-pressure: the
caller waits for a free buffer when the writer falls behind.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol


class Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class WriteBehind:
    """Writes views of pooled buffers to ``sink`` on one background thread, in order.

    Use :meth:`acquire` to get a free buffer, fill a prefix of it, :meth:`submit` a
    view of that prefix; :meth:`close` waits for every write. The sink must consume
    the bytes during ``write`` (not keep the view): the buffer is reused afterwards.
    A failed ``write`` is re-raised by the next :meth:`acquire`, :meth:`submit` or
    :meth:`close`; later buffers are then dropped unwritten.
    """

    def __init__(self, sink: Sink, buffer_size: int, depth: int = 2) -> None:
        if buffer_size < 1 or depth < 1:
            raise ValueError("buffer_size and depth must be positive")
        self._sink = sink
        self._size = buffer_size
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        pool = [bytearray(buffer_size) for _ in range(depth)]
        self._pool = frozenset(id(buf) for buf in pool)
        for buf in pool:
            self._free.put(buf)
        self._full: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._dropping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="verp-write-behind", daemon=True)
        self._thread.start()

    @property
    def buffer_size(self) -> int:
        return self._size

    def acquire(self) -> memoryview:
        """A free buffer of ``buffer_size`` bytes; waits while all are in flight.

        Raises:
            ValueError: after :meth:`close` or :meth:`abort`.
            BaseException: whatever an earlier ``sink.write`` raised.
        """
        self._check()
        buf = memoryview(self._free.get())
        self._check()
        return buf

    def submit(self, view: memoryview) -> None:
        """Queue ``view`` (a prefix of an acquired buffer) for writing; returns at once.

        Raises:
            ValueError: ``view`` is not a view of a buffer of this pool, or closed.
            BaseException: whatever an earlier ``sink.write`` raised.
        """
        self._check()
        if id(view.obj) not in self._pool:
            raise ValueError("submit a view of a buffer from acquire()")
        self._full.put(view)

    def close(self) -> None:
        """Wait until every submitted view is written; re-raises a write's failure."""
        if not self._closed:
            self._closed = True
            self._full.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop without writing what is still queued; never raises a write's failure."""
        if not self._closed:
            self._dropping = True
            self._closed = True
            self._full.put(None)
            self._thread.join()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError("WriteBehind is closed")

    def _run(self) -> None:
        while (view := self._full.get()) is not None:
            if self._error is None and not self._dropping:
                try:
                    self._sink.write(view)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc
            buf = view.obj  # the caller's view stays usable (never released here)
            assert isinstance(buf, bytearray)
            self._free.put(buf)

"""Where decrypted (or sealed) segments go: one reused buffer, or a write-behind pool."""

from __future__ import annotations

from storage.pipeline.write_behind import Sink, WriteBehind


class ReusedBuffer:
    """One buffer, allocated on first use (grown if asked for more) and handed out again."""

    def __init__(self) -> None:
        self.buf: memoryview | None = None

    def __call__(self, size: int) -> memoryview:
        if self.buf is None or len(self.buf) < size:
            self.buf = memoryview(bytearray(size))
        return self.buf


class SegmentOutput:
    """Buffers for segments bound for ``sink``, chosen at the first call (once the size is
    known): a :class:`WriteBehind` pool for segments of ``min_pipelined`` bytes or more,
    else one reused buffer written inline. Call it for a buffer, :meth:`emit` a filled
    prefix, then :meth:`close` (waits for the writes, re-raises a failed one) or
    :meth:`abort`."""

    def __init__(self, sink: Sink, min_pipelined: int) -> None:
        self._sink = sink
        self._min = min_pipelined
        self._behind: WriteBehind | None = None
        self._inline = ReusedBuffer()

    def __call__(self, size: int) -> memoryview:
        if self._behind is None and self._inline.buf is None and size >= self._min:
            self._behind = WriteBehind(self._sink, size)
        if self._behind is not None:
            return self._behind.acquire()
        return self._inline(size)

    def emit(self, chunk: memoryview) -> None:
        """Write ``chunk`` (a prefix of the last buffer handed out), now or on the pool's
        thread. Raises what ``sink.write`` raised (now or for an earlier chunk)."""
        if self._behind is None:
            self._sink.write(chunk)
        else:
            self._behind.submit(chunk)

    def abort(self) -> None:
        if self._behind is not None:
            self._behind.abort()

    def close(self) -> None:
        if self._behind is not None:
            self._behind.close()

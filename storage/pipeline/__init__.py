"""Pipelined I/O: a sink written on a background thread while the caller computes."""

from storage.pipeline.buffers import ReusedBuffer, SegmentOutput
from storage.pipeline.write_behind import WriteBehind

__all__ = ["ReusedBuffer", "SegmentOutput", "WriteBehind"]

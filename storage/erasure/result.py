"""The verdict of one erasure check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """``verified``: the wrapped key is gone from every live database file verp can see.
    ``detail``: the evidence when verified, else why the erasure is still pending."""

    verified: bool
    detail: str

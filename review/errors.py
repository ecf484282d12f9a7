"""Errors raised by the review package.

::

    ReviewError
    ├── NotFound           no such clip/annotation/moment *visible to this actor*
    │                      (also a storage.errors.NotFound: tenancy and drafts hide the rest)
    ├── PermissionDenied   the actor's role or relation to the clip does not allow this
    │                      (also a storage.errors.PermissionDenied)
    ├── ValidationError    bad input (times outside the clip, unknown code, ...); nothing changed
    │                      (also a storage.errors.ValidationError)
    ├── Conflict           the annotation changed since the caller read it (stale revision)
    ├── Locked             the review was signed off; its annotations can no longer change
    └── TaxonomyError      a coding-scheme file is malformed; lists every (file, line, reason)

The three shared kinds subclass the storage errors of the same name, so a caller that
maps ``storage.errors.NotFound`` to HTTP 404 maps review's too. Errors of the storage
calls review makes pass through unchanged — notably ``storage.errors.ConsentError`` when
the clip's consent does not cover the use. Review raises no vendor errors: TOML decoding
errors are wrapped into TaxonomyError in ``parsing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import errors as storage_errors


class ReviewError(Exception):
    """Base of every error raised by review."""


class NotFound(ReviewError, storage_errors.NotFound):
    """The object does not exist, belongs to another site, or is someone else's draft."""


class PermissionDenied(ReviewError, storage_errors.PermissionDenied):
    """The actor may not do this (wrong role, not the author, not a reviewer of the clip)."""


class ValidationError(ReviewError, storage_errors.ValidationError):
    """Input was rejected; nothing was changed."""


class Conflict(ReviewError):
    """The object was changed by someone else since the caller read it."""


class Locked(ReviewError):
    """The clip's review was signed off: annotations, replies, links and moments are frozen."""


@dataclass(frozen=True)
class Problem:
    """One defect in a coding-scheme file. ``line`` is 1-based, or None when unknown."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


class TaxonomyError(ReviewError):
    """One or more coding-scheme files are malformed; ``problems`` lists each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid coding scheme")

"""A user's notices: what happened that they should know about, computed from the records
(replies to their annotations, moments of theirs that are ready, their uploads that were
refused, reviews awaiting their sign-off) and the time they last opened the list.
"""

from storage.notices.feed import (
    KINDS,
    SIGN_OFF_KINDS,
    Notice,
    NoticeCounts,
    mark_seen,
    notice_counts,
    notices_for,
)

__all__ = [
    "KINDS",
    "SIGN_OFF_KINDS",
    "Notice",
    "NoticeCounts",
    "mark_seen",
    "notice_counts",
    "notices_for",
]

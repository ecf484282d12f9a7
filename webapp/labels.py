"""Plain-language labels for roles, kinds, purposes and states (shown to non-technical users)."""

from __future__ import annotations

from datetime import datetime

from storage.db.footage import Clip
from storage.destruction import UPLOAD_REFUSED

ROLE_LABELS = {
    "facilitator": "Facilitator",
    "supervisor": "Supervisor",
    "dpo": "Data protection officer",
    "admin": "Site admin",
}

KIND_LABELS = {
    "home-visit": "Home visit (talk and listen time)",
    "group-delivery": "Group session (trainee footage)",
    "shared-review": "Shared review with the family",
}

PURPOSE_LABELS = {
    "family-review": "Watch the video together with the family (shared review)",
    "supervision": "Show it in supervision to support the facilitator's practice",
    "training-events": "Show it at training events for other practitioners",
    "evaluation": "Use it to evaluate the programme",
}

#: Short purpose names for running text (the audit log's sentences).
PURPOSE_NAMES = {
    "family-review": "shared review with the family",
    "supervision": "supervision",
    "training-events": "training events",
    "evaluation": "programme evaluation",
}

STATUS_LABELS = {
    "receiving": "Waiting for the file",
    "queued": "Waiting to be processed",
    "processing": "Processing",
    "ready": "Ready",
    "failed": "Could not be processed",
    "erasure-pending": "Key destroyed, erasure pending",
    "destroyed": "Destroyed",
}

PARTICIPANT_CHOICES = (
    ("parent-1", "Parent 1"),
    ("parent-2", "Parent 2"),
    ("infant", "Baby"),
    ("sibling", "Brother or sister"),
    ("facilitator", "Facilitator"),
    ("group-members", "Group members"),
)


def label(mapping: dict[str, str], key: str | None) -> str:
    """The label of ``key``, or the key itself for values added later."""
    if key is None:
        return ""
    return mapping.get(key, key)


def days_until(when: datetime | None, now: datetime) -> int | None:
    """Whole days from ``now`` until ``when`` (negative once overdue); None if unknown."""
    if when is None:
        return None
    seconds = (when - now).total_seconds()
    return int(seconds // 86400)


def when(value: datetime | None) -> str:
    """A timestamp as people read it (UTC, to the minute)."""
    if value is None:
        return "—"
    return value.strftime("%d %b %Y, %H:%M UTC")


def day(value: datetime | None) -> str:
    """A date as people read it."""
    if value is None:
        return "—"
    return value.strftime("%d %b %Y")


STATE_LABELS = {
    "active": "Kept",
    "due-30d": "Due within 30 days",
    "due-7d": "Due within 7 days",
    "overdue": "Overdue",
    "held": "On legal hold",
    "unscheduled": "No date yet",
    "destroying": "Being destroyed",
    "erasure-pending": "Key destroyed, erasure pending",
    "destroyed": "Destroyed",
}

REASON_LABELS = {
    "retention-expired": "Retention period ended",
    "consent-withdrawn": "Consent withdrawn",
    "upload-abandoned": "Upload never finished",
    "upload-terminated": "Upload cancelled",
    UPLOAD_REFUSED: "Upload refused (not a usable video)",
}
#: The state of a clip destroyed because the pipeline refused its upload.
REFUSED = "Refused"


def is_refused(clip: Clip) -> bool:
    """Whether the pipeline refused the clip's upload (it is destroyed, or being so)."""
    return clip.destroy_reason == UPLOAD_REFUSED


def clip_status_label(clip: Clip) -> str:
    """A clip's state in words; a refused upload reads "Refused", not "Destroyed"."""
    return REFUSED if is_refused(clip) else label(STATUS_LABELS, clip.status)


def clip_failure_reason(clip: Clip) -> str | None:
    """Why processing failed or the upload was refused (for the uploader); else None."""
    return clip.failure_reason if clip.status == "failed" or is_refused(clip) else None


def duration(ms: int | None) -> str:
    """A clip length as minutes and seconds (``4:05``)."""
    if ms is None:
        return ""
    seconds = max(0, round(ms / 1000))
    return f"{seconds // 60}:{seconds % 60:02d}"


def filesize(size: int | None) -> str:
    """A byte count as people read it (``3.4 MB``; ``0 MB`` for nothing yet)."""
    if not size:
        return "0 MB"
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GB"
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def short_id(value: str | None) -> str:
    """The first block of a UUID (enough to tell entries apart on screen)."""
    if not value:
        return ""
    return value if value.startswith("system:") or len(value) < 12 else value[:8]

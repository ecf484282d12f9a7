"""Errors raised by the ingest package.

::

    IngestError
    ├── ToolMissing        no usable ffmpeg executable (deployment problem, not the upload's)
    ├── MediaRejected      the upload is not acceptable; ``reason`` is written for the
    │                      facilitator, ``category`` (a RejectCategory) for code and audit
    ├── TranscodeError     ffmpeg failed unexpectedly; ``transient`` says whether a retry
    │   │                  may succeed, ``stderr_tail`` holds ffmpeg's last words
    │   ├── ToolTimeout    ffmpeg ran past its time budget (transient)
    │   │   └── ToolStalled    its progress stood still too long (transient)
    │   └── WorkExceeded   it produced more than it declared, or used up its CPU
    │                      limit: the input lied to the probe (permanent)
    ├── ThumbnailError     the rendition could not be read to make thumbnails
    ├── TransientFailure   (pipeline) a job failed for a reason a retry may fix
    ├── ClaimLost          (claims) another worker holds the clip, or its destruction began
    ├── MomentFailed       (moments) a moment or still could not be rendered
    ├── MomentInvalid      (moments) a moment row cannot be rendered as asked
    ├── WorkspaceError     (workspace) the private job workspace could not be made safe
    └── UploadError        a resumable (tus) upload request was refused; nothing changed
        ├── TusVersionUnsupported   Tus-Resumable missing or not 1.0.0        (HTTP 412)
        ├── UploadRequestInvalid    a tus header or Upload-Metadata is bad    (HTTP 400)
        ├── ChecksumUnsupported     Upload-Checksum names an unknown algorithm (HTTP 400)
        ├── UploadContentType       PATCH body is not offset+octet-stream     (HTTP 415)
        ├── OffsetMismatch          Upload-Offset is not the server's offset  (HTTP 409)
        ├── UploadTooLarge          over the size cap or past Upload-Length   (HTTP 413)
        ├── ChecksumMismatch        the PATCH body fails its checksum         (HTTP 460)
        └── UploadExpired           abandoned past its expiry, awaiting sweep (HTTP 410)

``subprocess`` and OpenCV errors are wrapped where they happen (``ffmpeg_tool`` and
``thumbnails``); nothing else in ingest sees a vendor exception. A MediaRejected is
permanent: retrying the job cannot help, the facilitator has to upload another file.
"""

from __future__ import annotations

from enum import StrEnum


class RejectCategory(StrEnum):
    """Why an upload was refused. Stable values: they may be stored and audited."""

    EMPTY = "empty"
    NOT_VIDEO = "not-video"
    PHOTO = "photo"
    AUDIO_ONLY = "audio-only"
    NO_VIDEO = "no-video"
    UNSUPPORTED_FORMAT = "unsupported-format"
    UNSUPPORTED_CODEC = "unsupported-codec"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    TOO_LARGE = "too-large"
    TOO_LONG = "too-long"
    RESOLUTION_TOO_HIGH = "resolution-too-high"
    IMPLAUSIBLE_TIMING = "implausible-timing"
    NO_DURATION = "no-duration"
    TOO_MANY_STREAMS = "too-many-streams"
    EXTERNAL_REFERENCE = "external-reference"


_AGAIN = "Please upload it again from the tablet."
_ORIGINAL = "Please upload the original recording made by the tablet's camera app."

#: Default facilitator-facing wording per category; cap rejections add the limit.
DEFAULT_REASONS: dict[RejectCategory, str] = {
    RejectCategory.EMPTY: (
        f"The file is empty — nothing was recorded or the upload failed. {_AGAIN}"
    ),
    RejectCategory.NOT_VIDEO: "This file is not a video.",
    RejectCategory.PHOTO: "This file is a photo, not a video.",
    RejectCategory.AUDIO_ONLY: "This file has sound only and no picture. Please upload the video.",
    RejectCategory.NO_VIDEO: "This file contains no video picture. Please upload the video.",
    RejectCategory.UNSUPPORTED_FORMAT: (
        "This kind of video file is not supported. Please upload the recording made by "
        "the tablet's camera app (MP4, MOV or 3GP)."
    ),
    RejectCategory.UNSUPPORTED_CODEC: (
        "This video was recorded in a format that cannot be played here. Please record "
        "with the tablet's own camera app and upload that recording."
    ),
    RejectCategory.TRUNCATED: f"The recording is cut off — the file is incomplete. {_AGAIN}",
    RejectCategory.CORRUPT: f"The video file is damaged and cannot be played. {_AGAIN}",
    RejectCategory.TOO_LARGE: "This file is too large.",
    RejectCategory.TOO_LONG: "This video is too long.",
    RejectCategory.RESOLUTION_TOO_HIGH: "The picture size of this video is too large.",
    RejectCategory.IMPLAUSIBLE_TIMING: (
        "This video's timing is not what a camera records: it claims to run much longer "
        f"than the pictures it contains. {_ORIGINAL}"
    ),
    RejectCategory.NO_DURATION: (
        f"This video has no length: its pictures carry no timing. {_ORIGINAL}"
    ),
    RejectCategory.TOO_MANY_STREAMS: (
        f"This file holds more tracks than a tablet's camera records. {_ORIGINAL}"
    ),
    RejectCategory.EXTERNAL_REFERENCE: (
        "This file points to other files or web addresses instead of containing the "
        f"whole video. {_ORIGINAL}"
    ),
}


class IngestError(Exception):
    """Base of every error raised by ingest."""


class ToolMissing(IngestError):
    """No ffmpeg executable could be found or started."""


class MediaRejected(IngestError):
    """The uploaded file is not an acceptable video.

    ``reason`` is plain language a non-technical facilitator can act on; ``detail`` is
    for logs and operators (it never contains file contents).
    """

    def __init__(
        self, category: RejectCategory, reason: str | None = None, detail: str = ""
    ) -> None:
        self.category = category
        self.reason = reason if reason is not None else DEFAULT_REASONS[category]
        self.detail = detail
        super().__init__(self.reason)


class TranscodeError(IngestError):
    """ffmpeg failed for a reason that is not the upload's fault (or not provably so).

    ``transient`` is True when a retry may succeed (killed, timed out, out of disk).
    """

    def __init__(self, message: str, *, transient: bool = False, stderr_tail: str = "") -> None:
        self.transient = transient
        self.stderr_tail = stderr_tail
        super().__init__(message)


class ToolTimeout(TranscodeError):
    """ffmpeg exceeded its time budget and was killed."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        super().__init__(message, transient=True, stderr_tail=stderr_tail)


class ToolStalled(ToolTimeout):
    """ffmpeg's progress stood still longer than allowed and it was killed."""


class WorkExceeded(TranscodeError):
    """ffmpeg produced more output than the transcode declared, or used up its CPU-time
    limit, and was killed. Permanent: the file made it do more than it claimed to need."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        super().__init__(message, transient=False, stderr_tail=stderr_tail)


class ThumbnailError(IngestError):
    """The rendition could not be decoded to make a poster, sprite or thumbnail track."""


class UploadError(IngestError):
    """A tus request was refused; the upload's offset and stored parts are unchanged."""


class TusVersionUnsupported(UploadError):
    """The request's Tus-Resumable header is missing or names a version we do not speak."""


class UploadRequestInvalid(UploadError):
    """A required tus header is missing or malformed, or Upload-Metadata is invalid."""


class ChecksumUnsupported(UploadError):
    """Upload-Checksum names an algorithm this server does not offer."""


class UploadContentType(UploadError):
    """A PATCH body was not sent as ``application/offset+octet-stream``."""


class OffsetMismatch(UploadError):
    """The client's Upload-Offset differs from the server's (or another PATCH won a race)."""


class UploadTooLarge(UploadError):
    """The upload exceeds the configured size cap or writes past its declared length."""


class ChecksumMismatch(UploadError):
    """The received PATCH body does not match its Upload-Checksum; the part was discarded."""


class UploadExpired(UploadError):
    """The upload was abandoned past its expiry; the sweeper will destroy it."""

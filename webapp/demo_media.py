"""Media for `verp demo`: synthetic videos made with ffmpeg, and group-session clips of
the demo's group A ingested with the families present (see :mod:`webapp.demo`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select

from ingest import ffmpeg_tool
from ingest.clips import register_clip
from ingest.reception import mark_received, stage_stream
from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.programme import GroupSession
from storage.db.tenancy import Site
from storage.errors import NotFound
from storage.programme import Placement, family_consent
from webapp.composition import Services

CLIP_SECONDS = 20
CLIP_SIZE = "960x540"
#: Smaller than the home visit so the group sessions keep `verp demo` start-up short.
GROUP_SIZE = "480x270"


def make_video(path: Path, seconds: int = CLIP_SECONDS, size: str = CLIP_SIZE) -> None:
    """Write a synthetic H.264/AAC MP4 (moving test pattern and a soft tone) to ``path``.

    ``size`` is ``<width>x<height>``.

    Raises ingest's ToolMissing/TranscodeError if ffmpeg is missing or fails.
    """
    argv = ffmpeg_tool.command(
        "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-filter:a", "volume=0.2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart",
        str(path),
    )  # fmt: skip
    result = ffmpeg_tool.run(argv, timeout_s=120)
    if result.returncode != 0:
        raise ffmpeg_tool.failure("generating the demo clip", result)


def find_titled(svc: Services, site_id: str, title: str) -> Clip | None:
    """The demo group-session clip titled ``title`` that is not failed or destroyed."""
    with svc.db.session() as db:
        return db.scalar(
            select(Clip)
            .where(
                Clip.site_id == site_id,
                Clip.title == title,
                Clip.status.not_in(("failed", "destroyed")),
            )
            .limit(1)
        )


def receive_session(
    svc: Services,
    facilitator: Actor,
    group_id: str,
    title: str,
    meeting: tuple[str, int],
    family_ids: tuple[str, ...],
) -> str:
    """Generate a group-session video and ingest it as ``facilitator`` (the trainee filmed)
    with ``family_ids`` in the room; the first family's consent on record is the clip's.
    Returns the clip id (queued). Raises NotFound if the session or a consent is missing."""
    with svc.db.session() as db:
        site = db.get(Site, facilitator.site_id)
        consent = family_consent(db, family_ids[0])
        session_id = db.scalar(
            select(GroupSession.id).where(
                GroupSession.group_id == group_id,
                GroupSession.kind == meeting[0],
                GroupSession.number == meeting[1],
            )
        )
        if site is None or consent is None or session_id is None:
            raise NotFound("the demo group, its session or a family's consent")
        clip = register_clip(
            db, svc.vault, svc.audit, svc.settings, actor=facilitator, site=site,
            kind="group-delivery", consent=consent, uploaded_by=facilitator.id, title=title,
            trainee_id=facilitator.id,
            placement=Placement(group_id=group_id, session_id=session_id,
                                present_family_ids=family_ids),
        )  # fmt: skip
        clip_id = clip.id
    svc.settings.workspace_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=svc.settings.workspace_dir) as tmp:
        video = Path(tmp) / "demo.mp4"
        make_video(video, CLIP_SECONDS, GROUP_SIZE)
        with video.open("rb") as source, svc.db.session() as db:
            live = db.get(Clip, clip_id)
            assert live is not None
            blob = stage_stream(svc, live, 0, source)
            mark_received(db, svc.audit, facilitator, live, blob.plaintext_size, 1)
    return clip_id

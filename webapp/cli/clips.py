"""`verp ingest FILE ...` and `verp clips list|show|export`."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ingest.clips import clip_summary, export_rendition, get_clip, list_clips
from ingest.reception import receive_file
from storage.accounts import site_by_slug
from storage.audit import Actor
from storage.consent import consent_summary, load_consent_file
from storage.db.footage import KINDS, PURPOSES, Clip, Consent
from storage.errors import StorageError, ValidationError
from storage.private_output import PrivateOutput, sweep_partials
from webapp.cli.common import CLI_ACTOR, emit, json_option, services
from webapp.cli.guards import partials_dir, stop_signals_raise
from webapp.composition import Services

FINAL = ("ready", "failed", "destroyed")
POLL_SECONDS = 0.5
#: Seconds a queued clip is left for a running worker before `--wait` processes it here.
WORKER_GRACE = 3.0


@click.command("ingest")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--site", "site_slug", required=True, help="Slug of the site the clip belongs to.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What the footage shows.")
@click.option(
    "--family",
    default=None,
    help="Family filmed (home visit): its code, which must match the consent's family.",
)
@click.option("--group", default=None, help="Code of the group the footage belongs to.")
@click.option(
    "--session",
    "meeting",
    default=None,
    metavar="KIND:N",
    help="Group session recorded (antenatal:1-6, postnatal:1-3); needs --group.",
)
@click.option(
    "--present",
    default="",
    metavar="CODE,CODE",
    help="Other families present in a group-session recording (the consent's family is).",
)
@click.option(
    "--uploaded-by",
    "uploaded_by",
    default=None,
    metavar="EMAIL",
    help="The practitioner an operator ingests for (they then see the clip).",
)
@click.option(
    "--consent",
    "consent_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Consent JSON file (see the README: 'Uploading footage').",
)
@click.option("--title", default="", help="Optional title (never a family's name).")
@click.option("--wait", is_flag=True, help="Return only when the clip is ready or has failed.")
@json_option
def ingest_cmd(
    file: Path,
    site_slug: str,
    kind: str,
    family: str | None,
    group: str | None,
    meeting: str | None,
    present: str,
    uploaded_by: str | None,
    consent_path: Path,
    title: str,
    wait: bool,
    as_json: bool,
) -> None:
    """Encrypt FILE into the store under a recorded consent and queue it for processing.

    Home-visit footage names its family (--family, with --group); a group-session
    recording names --group, --session KIND:N and the other families --present. Without a
    group the clip joins its family's group, or the site's "unassigned" group. Nothing is
    stored when the consent, the site, the placement or the file is refused. With --wait
    the clip is processed here when no worker is running; the exit status is 1 if it fails.
    """
    try:
        consent = load_consent_file(consent_path)
        if family is not None and consent.family != family.strip().upper():
            raise ValidationError(
                f"--family {family} does not match the consent's family {consent.family}"
            )
        if family is None and meeting is None:
            raise ValidationError(
                "name the family filmed (--family) or the group session (--session)"
            )
        where = Where(group, family, meeting, tuple(c for c in present.split(",") if c.strip()))
        with stop_signals_raise(), services() as svc:
            clip_id = _receive(svc, file, site_slug, kind, consent, title, where, uploaded_by)
            _hand_off(svc, clip_id, wait)
            with svc.db.session() as session:
                out = clip_summary(session, get_clip(session, None, clip_id))
    except (StorageError, OSError) as exc:
        if as_json:
            emit({"id": None, "status": "refused", "failure_reason": str(exc)}, True)
        raise
    result = {k: out[k] for k in ("id", "status", "stage", "failure_reason")}
    emit(result, as_json, text=_ingest_text(out))
    if out["status"] in ("failed", "destroyed"):
        sys.exit(1)


@dataclass(frozen=True)
class Where:
    """The programme placement typed on the command line (codes)."""

    group: str | None
    family: str | None
    meeting: str | None
    present: tuple[str, ...]


def _receive(
    svc: Services,
    file: Path,
    site_slug: str,
    kind: str,
    consent: Any,
    title: str,
    where: Where,
    uploaded_by: str | None,
) -> str:
    size = file.stat().st_size if file.is_file() else 0
    with click.progressbar(length=size, label="Encrypting", file=sys.stderr) as bar:
        return receive_file(
            svc,
            CLI_ACTOR,
            file,
            site_slug=site_slug,
            kind=kind,
            consent=consent,
            title=title,
            on_progress=bar.update,
            group=where.group,
            family=where.family,
            meeting=where.meeting,
            present=where.present,
            uploaded_by=uploaded_by,
        )


def _hand_off(svc: Services, clip_id: str, wait: bool) -> None:
    """Queue the clip; with ``wait``, see it through to ``ready`` or ``failed``.

    A running worker normally claims a queued clip within a second or two; if none has
    after :data:`WORKER_GRACE` seconds, the clip is processed here. Claims
    (ingest.claims) make that safe even if a worker starts meanwhile.
    """
    # Imported here: the queue and the media stack are slow to import, and only
    # `verp ingest` needs them.
    from ingest.claims import ClaimLost, release_own
    from ingest.jobs import enqueue_process
    from ingest.pipeline import TransientFailure, process_clip

    enqueue_process(svc, clip_id)
    if not wait:
        return
    with click.progressbar(length=100, label="Waiting", file=sys.stderr) as bar:

        def show(stage: str, percent: int) -> None:
            bar.label = stage.capitalize()
            bar.update(max(0, percent - bar.pos))

        deadline = time.monotonic() + WORKER_GRACE
        while (clip := _snapshot(svc, clip_id)).status not in FINAL:
            show(clip.stage or clip.status, clip.progress)
            if clip.status == "queued" and time.monotonic() >= deadline:
                try:
                    process_clip(svc, clip_id, progress=show)
                except TransientFailure:
                    time.sleep(svc.settings.queue_retry_delay)
                except ClaimLost:
                    deadline = time.monotonic() + WORKER_GRACE  # a worker has it now
                except BaseException:
                    # Stopped (SIGTERM/SIGINT): the workspace is gone already; hand the
                    # clip back so the next worker resumes it at once.
                    release_own(svc)
                    raise
                continue
            time.sleep(POLL_SECONDS)


def _snapshot(svc: Services, clip_id: str) -> Clip:
    with svc.db.session() as session:
        return get_clip(session, None, clip_id)


def _ingest_text(out: dict[str, Any]) -> str:
    line = f"clip {out['id']}: {out['status']}"
    if out["failure_reason"]:
        line += f" — {out['failure_reason']}"
    return line


@click.group("clips")
def clips() -> None:
    """List, inspect and export clips."""


@clips.command("list")
@click.option("--site", "site_slug", default=None, help="Only clips of this site.")
@click.option("--status", default=None, help="Only clips in this status.")
@json_option
def clips_list(site_slug: str | None, status: str | None, as_json: bool) -> None:
    """List clips, newest first (destroyed ones only with --status destroyed)."""
    with services() as svc, svc.db.session() as session:
        site_id = site_by_slug(session, site_slug).id if site_slug else None
        rows = [clip_summary(session, c) for c in list_clips(session, site_id, status=status)]
    text = "\n".join(
        f"{r['id']}\t{r['site']}\t{r['kind']}\t{r['family']}\t{r['status']}\t"
        f"{r['stage']} {r['progress']}%\t{r['created_at']}"
        for r in rows
    )
    emit(rows, as_json, text=text or "no clips")


@clips.command("show")
@click.argument("clip_id")
@json_option
def clips_show(clip_id: str, as_json: bool) -> None:
    """Status, stage, progress, media facts, consent and failure reason of a clip."""
    with services() as svc, svc.db.session() as session:
        clip = get_clip(session, None, clip_id)
        out = clip_summary(session, clip)
        consent = session.get(Consent, clip.consent_id)
        out["consent"] = consent_summary(consent) if consent is not None else None
    emit(out, as_json, text=_show_text(out))


def _show_text(out: dict[str, Any]) -> str:
    lines = [
        f"clip:          {out['id']}",
        f"site:          {out['site']}",
        f"kind:          {out['kind']}",
        f"family:        {out['family']}",
        f"status:        {out['status']} ({out['stage']} {out['progress']}%)",
        f"delete after:  {out['delete_after']}",
    ]
    if out["failure_reason"]:
        lines.append(f"reason:        {out['failure_reason']}")
    media = {k: v for k, v in out["media"].items() if v is not None}
    lines += [f"{k + ':':<15}{v}" for k, v in media.items()]
    if out["renditions"]:
        lines.append(f"renditions:    {', '.join(out['renditions'])}")
    if out.get("consent"):
        lines.append(f"consent:       {', '.join(out['consent']['active_purposes'])}")
    return "\n".join(lines)


@clips.command("export")
@click.argument("clip_id")
@click.option("--rendition", default="playback", show_default=True, help="Which rendition.")
@click.option(
    "--purpose",
    type=click.Choice(PURPOSES),
    default=None,
    help="The use the export is for; the clip's consent must cover it.",
)
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@json_option
def clips_export(
    clip_id: str, rendition: str, purpose: str | None, out_path: Path, as_json: bool
) -> None:
    """Decrypt a rendition of a ready clip to --out (mode 0600). Audited.

    The plaintext has no name until it is complete and the audit entry is committed
    (storage.private_output); an existing file is never overwritten.
    """
    with stop_signals_raise(), services() as svc:
        registry = partials_dir(svc.settings)
        sweep_partials(registry)
        with PrivateOutput(out_path, partials=registry) as sink:
            with svc.db.session() as session:
                clip = get_clip(session, None, clip_id)
                actor = Actor(CLI_ACTOR.id, CLI_ACTOR.role, clip.site_id)
                size = export_rendition(
                    session, svc.vault, svc.audit, actor, clip, rendition, sink.write, purpose
                )
            # The audit entry is committed: only now does the plaintext get its name.
            sink.publish()
    out = {"id": clip_id, "rendition": rendition, "out": str(out_path), "bytes": size}
    emit(out, as_json, text=f"exported {size} bytes of {rendition} to {out_path}")


def register(cli: click.Group) -> None:
    cli.add_command(ingest_cmd)
    cli.add_command(clips)

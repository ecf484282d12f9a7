"""Supervision: the supervisor's queue, coder comparison with Cohen's kappa, sign-off.

The queue lists the site's trainee footage (group sessions and filmed shared reviews)
that is processed and not yet signed off. The comparison page runs
``review.agreement.compare_coders`` for two coders, one scheme and a stated window, and
shows the result as numbers, a per-code table, a mini timeline of both coders'
annotations with the windows where they differ, and the list of those windows.
Signing off (``review.supervision.sign_off``) stores the summary, locks the review and
starts the clip's retention countdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from review import agreement, supervision
from review import annotations as notes
from review.access import site_slug
from review.errors import Locked
from review.taxonomy import Scheme
from storage.db.footage import Clip
from storage.db.review import Annotation, SignOff
from storage.db.tenancy import User
from storage.errors import ValidationError
from webapp.authz import load_clip, requires, user_or_401
from webapp.context import services, unit_of_work
from webapp.reviewing import author_names, registry

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

QUEUE_LIMIT = 200
#: Longest clip timeline drawn, in SVG user units.
TIMELINE_WIDTH = 1000


@bp.get("")
@requires("supervisor")
def queue() -> str:
    """Trainee footage awaiting review (oldest first), then recent sign-offs."""
    user = user_or_401()
    svc = services()
    base = select(Clip).where(
        Clip.site_id == user.site_id,
        Clip.kind.in_(supervision.SIGN_OFF_KINDS),
        Clip.status == "ready",
        Clip.destroy_requested_at.is_(None),
    )
    with unit_of_work() as db:
        waiting = list(
            db.scalars(
                base.where(Clip.signed_off_at.is_(None))
                .order_by(Clip.created_at, Clip.id)
                .limit(QUEUE_LIMIT)
            )
        )
        done = list(
            db.scalars(
                base.where(Clip.signed_off_at.is_not(None))
                .order_by(Clip.signed_off_at.desc())
                .limit(20)
            )
        )
        ids = [c.id for c in waiting]
        counts = _annotation_counts(db, ids, user.id)
        people = [c.trainee_id for c in waiting + done if c.trainee_id]
        names = author_names(db, user.site_id, people)
        svc.audit.append(
            db, user.actor, "supervision.queue", site_id=user.site_id,
            details={"count": len(waiting)},
        )  # fmt: skip
    return render_template(
        "supervision/queue.html", waiting=waiting, done=done, counts=counts, names=names
    )


def _annotation_counts(db: Session, clip_ids: list[str], me: str) -> dict[str, dict[str, int]]:
    """Per clip: shared annotations by me and by everyone else."""
    if not clip_ids:
        return {}
    query = (
        select(Annotation.clip_id, Annotation.author_id, func.count())
        .where(
            Annotation.clip_id.in_(clip_ids),
            Annotation.deleted_at.is_(None),
            Annotation.visibility == "shared",
        )
        .group_by(Annotation.clip_id, Annotation.author_id)
    )
    counts: dict[str, dict[str, int]] = {c: {"mine": 0, "others": 0} for c in clip_ids}
    for clip_id, author, count in db.execute(query).all():
        counts[clip_id]["mine" if author == me else "others"] += int(count)
    return counts


def _window_ms(raw: str | None, default: int) -> int:
    """The window length from the form (seconds, e.g. ``1`` or ``2.5``)."""
    if not raw or not raw.strip():
        return default
    try:
        seconds = float(raw.replace(",", "."))
    except ValueError:
        raise ValidationError(
            "Enter the window length as a number of seconds, e.g. 1 or 2.5."
        ) from None
    low = agreement.MIN_WINDOW_MS / 1000
    if not low <= seconds <= 3600:
        raise ValidationError(f"Enter a window length from {low:g} to 3600 seconds.")
    return round(seconds * 1000)


def _choose(options: list[str], wanted: str | None, *preferred: str | None) -> str | None:
    for candidate in (wanted, *preferred):
        if candidate and candidate in options:
            return candidate
    return options[0] if options else None


@bp.get("/<clip_id>")
@requires("supervisor")
def compare(clip_id: str) -> tuple[str, int]:
    """Compare two coders of a clip and sign its review off. A window length that is not
    a number of seconds keeps the form, says why beside it, and compares with the default."""
    return _compare_page(clip_id, request.args)


def _compare_page(
    clip_id: str,
    args: Mapping[str, str],
    *,
    summary: str = "",
    summary_error: str | None = None,
) -> tuple[str, int]:
    """The comparison and sign-off page; 400 when the window or the summary was refused."""
    user = user_or_401()
    svc = services()
    window_error = None
    try:
        window_ms = _window_ms(args.get("window"), svc.settings.agreement_window_ms)
    except ValidationError as exc:
        window_error = str(exc)
        window_ms = svc.settings.agreement_window_ms
    with unit_of_work() as db:
        clip = load_clip(db, clip_id, footage=True)
        slug = site_slug(db, clip.site_id)
        visible = notes.list_annotations(db, user.actor, clip.id)
        schemes = registry().for_clip(slug, clip.kind)
        coders = sorted({a.author_id for a in visible if a.scheme_id})
        names = author_names(db, user.site_id, [*coders, clip.trainee_id or ""])
        scheme_ids = [s.id for s in schemes]
        used = sorted(scheme_ids, key=lambda s: -sum(1 for a in visible if a.scheme_id == s))
        scheme_id = _choose(scheme_ids, args.get("scheme_id"), *used[:1])
        coder_a = _choose(coders, args.get("coder_a"), user.id)
        rest = [c for c in coders if c != coder_a]
        coder_b = _choose(rest, args.get("coder_b"), clip.trainee_id)
        level = args.get("level", "code") if args.get("level") in agreement.LEVELS else "code"
        result = None
        if scheme_id and coder_a and coder_b:
            try:
                result = agreement.compare_coders(
                    db, svc.audit, registry(), user.actor, clip.id, coder_a=coder_a,
                    coder_b=coder_b, scheme_id=scheme_id, window_ms=window_ms, level=level,
                )  # fmt: skip
            except ValidationError:
                # e.g. too many windows for this clip's length: say so, use the default.
                window_error = "That window is too short for a clip this long."
                window_ms = svc.settings.agreement_window_ms
                result = agreement.compare_coders(
                    db, svc.audit, registry(), user.actor, clip.id, coder_a=coder_a,
                    coder_b=coder_b, scheme_id=scheme_id, window_ms=window_ms, level=level,
                )  # fmt: skip
        signed = db.get(SignOff, clip.id)
        if signed is not None:
            names.update(author_names(db, user.site_id, [signed.supervisor_id]))
        trainee = db.get(User, clip.trainee_id) if clip.trainee_id else None
    scheme = next((s for s in schemes if s.id == scheme_id), None)
    page = render_template(
        "supervision/compare.html",
        window_error=window_error,
        window_raw=args.get("window", "")[:40] if window_error else None,
        summary=summary,
        summary_error=summary_error,
        clip=clip,
        trainee=trainee,
        schemes=schemes,
        scheme=scheme,
        coders=coders,
        names=names,
        coder_a=coder_a,
        coder_b=coder_b,
        window_ms=window_ms,
        level=level,
        result=result,
        lanes=_lanes(visible, scheme, coder_a, coder_b, clip.duration_ms or 1),
        width=TIMELINE_WIDTH,
        signed=signed,
        can_sign=clip.kind in supervision.SIGN_OFF_KINDS and signed is None,
        own_footage=clip.trainee_id == user.id,
        label=(lambda code: scheme.label(code)) if scheme else (lambda code: code),
    )
    return page, 400 if window_error or summary_error else 200


def _lanes(
    visible: list[Annotation],
    scheme: Scheme | None,
    coder_a: str | None,
    coder_b: str | None,
    duration_ms: int,
) -> dict[str, list[dict[str, Any]]]:
    """Each coder's annotations of the compared scheme as SVG boxes (x, width, colour)."""
    lanes: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    if scheme is None:
        return lanes
    scale = TIMELINE_WIDTH / duration_ms
    for note in visible:
        lane = "a" if note.author_id == coder_a else "b" if note.author_id == coder_b else None
        if lane is None or note.scheme_id != scheme.id:
            continue
        end = note.end_ms if note.end_ms is not None else note.start_ms
        code = scheme.code(note.codes[0]) if note.codes else None
        lanes[lane].append(
            {
                "x": round(note.start_ms * scale, 2),
                "width": max(2.0, round((end - note.start_ms) * scale, 2)),
                "colour": code.colour if code else "#5F6B7A",
                "title": ", ".join(scheme.label(c) for c in note.codes),
            }
        )
    return lanes


@bp.post("/<clip_id>/sign-off")
@requires("supervisor")
def sign_off(clip_id: str) -> Response | tuple[str, int]:
    """Sign the review off with the summary from the form; back to the comparison."""
    user = user_or_401()
    svc = services()
    summary = request.form.get("summary", "")
    target = url_for("supervision.compare", clip_id=clip_id)
    if not summary.strip():
        # Kept on the page, beside the box, rather than a message far above it.
        return _compare_page(
            clip_id, request.args, summary=summary[:20_000],
            summary_error="Write a summary of the review before signing it off.",
        )  # fmt: skip
    try:
        with unit_of_work() as db:
            load_clip(db, clip_id, footage=True)
            supervision.sign_off(db, svc.audit, svc.settings, user.actor, clip_id, summary=summary)
    except ValidationError as exc:
        return _compare_page(
            clip_id, request.args, summary=summary[:20_000],
            summary_error=str(exc) or "The review could not be signed off.",
        )  # fmt: skip
    except Locked as exc:
        flash(str(exc) or "The review could not be signed off.", "error")
        return redirect(target, code=303)
    flash(
        "Signed off. The review is now locked, and the footage's deletion date is set.", "success"
    )
    return redirect(target, code=303)

"""The data-protection dashboard: retention, destructions, legal holds, consent withdrawal
and tombstones with their certificates — metadata only, never footage.

Every page and action is audited; every row is of the user's own site (404 otherwise).
The audit log pages live in :mod:`webapp.views.dpo_audit`.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from storage.audit.people import person_labels
from storage.db.footage import PURPOSES, Clip, Consent, DataKey
from storage.db.governance import AuditEntry, LegalHold, Tombstone
from storage.db.programme import ClipFamily
from storage.destruction import Destroyer
from storage.errors import NotFound, ValidationError
from storage.governance_status import STATES, clip_state, retention_status
from storage.holds import held_clip_ids, lift_hold, list_holds, place_hold
from storage.kek import horizon_of
from storage.withdrawal import withdraw_consent
from webapp.authz import GOVERNANCE_ROLES, load_consent, load_site_row, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.labels import PARTICIPANT_CHOICES
from webapp.views.shares import site_shares

bp = Blueprint("dpo", __name__, url_prefix="/dpo")

UPCOMING_DAYS = 30
#: Who was filmed, in words (``parent-1`` -> "Parent 1").
PEOPLE = dict(PARTICIPANT_CHOICES)
LIST_LIMIT = 200
#: Live clips per page of the legal-hold picker, and tombstones per page.
PICKER_PAGE = 50
TOMBSTONE_PAGE = 50


def _audit_view(
    user: CurrentUser, page: str, target_type: str | None = None, target_id: str | None = None
) -> None:
    """Record that a DPO page was looked at (ids only)."""
    with unit_of_work() as db:
        services().audit.append(
            db,
            user.actor,
            "dpo.view",
            target_type=target_type,
            target_id=target_id,
            site_id=user.site_id,
            details={"page": page},
        )


@bp.get("")
@requires(*GOVERNANCE_ROLES)
def index() -> str:
    """Overview: counts per kind and state, pending erasures, overdue and upcoming
    destructions."""
    user = user_or_401()
    now = services().clock.now()
    horizon = now + timedelta(days=UPCOMING_DAYS)
    with unit_of_work() as db:
        rows = retention_status(db, now, user.site_id)
        held = held_clip_ids(db, user.site_id)
        due = list(
            db.scalars(
                select(Clip)
                .where(
                    Clip.site_id == user.site_id,
                    Clip.status != "destroyed",
                    Clip.delete_after <= horizon,
                )
                .order_by(Clip.delete_after, Clip.id)
                .limit(LIST_LIMIT)
            )
        )
        shares = site_shares(db, user.site_id, now)
        erasures = list(
            db.execute(
                select(Clip, DataKey.destroyed_at)
                .outerjoin(DataKey, DataKey.clip_id == Clip.id)
                .where(Clip.site_id == user.site_id, Clip.status == "erasure-pending")
                .order_by(Clip.destroy_requested_at, Clip.id)
                .limit(LIST_LIMIT)
            ).all()
        )
    totals = {state: sum(r[state] for r in rows) for state in STATES}
    due_rows = [(c, clip_state(c, c.id in held, now)) for c in due]
    _audit_view(user, "overview")
    return render_template(
        "dpo/index.html",
        rows=rows,
        states=STATES,
        totals=totals,
        overdue=[(c, s) for c, s in due_rows if s in ("overdue", "destroying")],
        upcoming=[
            (c, s) for c, s in due_rows if s not in ("overdue", "destroying", "erasure-pending")
        ],
        held_count=len(held),
        shares=shares,
        destroyed=totals["destroyed"],  # the site's tombstones, counted with the rest
        erasures=erasures,
        now=now,
        upcoming_days=UPCOMING_DAYS,
    )


def _page_number() -> int:
    """The ``page`` query argument (1 when missing or not a positive whole number)."""
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def _family_prefix() -> str:
    """The ``family`` query argument, reduced to the characters of a family code."""
    raw = request.args.get("family", "").upper()[:40]
    return "".join(ch for ch in raw if ch.isalnum() or ch == "-")


def _holds_page(status: int = 200, **extra: object) -> tuple[str, int]:
    """The holds page: the holds with their clips, and a picker of live clips that shows
    PICKER_PAGE clips a page (searchable by family code), not every clip of the site."""
    user = user_or_401()
    page, family = _page_number(), _family_prefix()
    chosen = request.args.get("clip", "")[:64]
    with unit_of_work() as db:
        holds = list_holds(db, site_id=user.site_id, active_only=False)[:LIST_LIMIT]
        wanted = {h.clip_id for h in holds} | ({chosen} if chosen else set())
        # Skipped when there is nothing to look up: SQLite plans an empty IN as a scan.
        by_id = select(Clip).where(Clip.site_id == user.site_id, Clip.id.in_(wanted))
        clips = {c.id: c for c in db.scalars(by_id)} if wanted else {}
        query = select(Clip).where(
            Clip.site_id == user.site_id,
            Clip.status != "destroyed",
            Clip.destroy_requested_at.is_(None),
        )
        if family:
            query = query.where(Clip.family_code.startswith(family, autoescape=True))
        found = list(
            db.scalars(
                query.order_by(Clip.family_code, Clip.created_at, Clip.id)
                .offset((page - 1) * PICKER_PAGE)
                .limit(PICKER_PAGE + 1)
            )
        )
        who = person_labels(db, [h.placed_by for h in holds] + [h.lifted_by for h in holds])
    live = found[:PICKER_PAGE]
    picked = clips.get(chosen)
    if picked is not None and picked not in live and picked.status != "destroyed":
        live.insert(0, picked)  # the clip a clip page sent us with stays selectable
    extra.setdefault("chosen", chosen)
    pager = {"page": page, "more": len(found) > PICKER_PAGE, "family": family}
    html = render_template(
        "dpo/holds.html", holds=holds, clips=clips, live=live, who=who, pager=pager, **extra
    )
    return html, status


@bp.get("/holds")
@requires(*GOVERNANCE_ROLES)
def holds() -> tuple[str, int]:
    """Legal holds (active first) and the form to place one."""
    _audit_view(user_or_401(), "holds")
    return _holds_page()


@bp.post("/holds")
@requires(*GOVERNANCE_ROLES)
def hold_place() -> tuple[str, int] | Response:
    """Place a legal hold on a clip of the site (suspends its destruction)."""
    user = user_or_401()
    try:
        with unit_of_work() as db:
            place_hold(
                db,
                services().audit,
                user.actor,
                site_id=user.site_id,
                clip_id=request.form.get("clip_id", ""),
                reason=request.form.get("reason", ""),
                by=user.id,
            )
    except ValidationError as exc:
        return _holds_page(400, error=str(exc), form=request.form)
    flash("The legal hold was placed. The clip will not be destroyed while it is held.", "success")
    return redirect(url_for("dpo.holds"))


@bp.post("/holds/<hold_id>/lift")
@requires(*GOVERNANCE_ROLES)
def hold_lift(hold_id: str) -> Response:
    """Lift a hold; the next sweep destroys the clip if it is due."""
    user = user_or_401()
    try:
        with unit_of_work() as db:
            load_site_row(db, LegalHold, hold_id)
            lift_hold(
                db, services().audit, user.actor, site_id=user.site_id, hold_id=hold_id, by=user.id
            )
    except ValidationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dpo.holds"))
    flash("The legal hold was lifted.", "success")
    return redirect(url_for("dpo.holds"))


@bp.get("/consents")
@requires(*GOVERNANCE_ROLES)
def consents() -> str:
    """The site's consents with their purposes, withdrawals and clips."""
    user = user_or_401()
    family = "".join(
        ch for ch in request.args.get("family", "").upper() if ch.isalnum() or ch == "-"
    )
    query = select(Consent).where(Consent.site_id == user.site_id)
    if family:
        query = query.where(Consent.family_code.startswith(family, autoescape=True))
    with unit_of_work() as db:
        rows = list(db.scalars(query.order_by(Consent.created_at.desc()).limit(LIST_LIMIT)))
        per_consent = (
            select(Clip.consent_id, func.count())
            .where(Clip.site_id == user.site_id, Clip.status != "destroyed")
            .group_by(Clip.consent_id)
        )
        counts = {consent_id: n for consent_id, n in db.execute(per_consent)}
    _audit_view(user, "consents")
    return render_template("dpo/consents.html", consents=rows, counts=counts, family=family)


@bp.get("/consents/<consent_id>")
@requires(*GOVERNANCE_ROLES)
def consent(consent_id: str) -> str:
    """One consent, its clips, and the form to withdraw some or all of its purposes."""
    user = user_or_401()
    with unit_of_work() as db:
        row = load_consent(db, consent_id)
        # Its own clips, and the group-session recordings its family was present in
        # (a withdrawal reaches those too: docs/programme.md).
        present_in = select(ClipFamily.clip_id).where(ClipFamily.consent_id == row.id)
        clips = list(
            db.scalars(
                select(Clip).where(
                    or_(Clip.consent_id == row.id, Clip.id.in_(present_in)),
                    Clip.site_id == user.site_id,
                )
            )
        )
    _audit_view(user, "consent", "consent", row.id)
    return render_template(
        "dpo/consent.html", consent=row, clips=clips, purposes=PURPOSES, people=PEOPLE
    )


@bp.post("/consents/<consent_id>/withdraw")
@requires(*GOVERNANCE_ROLES)
def withdraw(consent_id: str) -> tuple[str, int] | Response:
    """Withdraw purposes of a consent; withdrawing all destroys its clips at once."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        row = load_consent(db, consent_id)
        clips = list(db.scalars(select(Clip).where(Clip.consent_id == row.id)))
    chosen = request.form.getlist("purposes")
    try:
        if not chosen:
            raise ValidationError("Tick the purposes the family has withdrawn.")
        result = withdraw_consent(
            Destroyer(svc.db, svc.vault, svc.audit),
            svc.settings.retention,
            user.actor,
            site_id=user.site_id,
            consent_id=row.id,
            purposes=chosen,
            reason=request.form.get("reason", ""),
        )
    except ValidationError as exc:
        page = render_template(
            "dpo/consent.html",
            consent=row,
            clips=clips,
            purposes=PURPOSES,
            people=PEOPLE,
            error=str(exc),
            form=request.form,
        )
        return page, 400
    message = "The withdrawal was recorded."
    if result.destroyed:
        message += f" {len(result.destroyed)} clip(s) were destroyed."
    if result.held:
        message += f" {len(result.held)} clip(s) are on legal hold and will be destroyed after."
    if result.failed:
        message += f" {len(result.failed)} clip(s) could not be destroyed yet; the sweep retries."
    flash(message, "success")
    return redirect(url_for("dpo.consent", consent_id=row.id))


@bp.get("/tombstones")
@requires(*GOVERNANCE_ROLES)
def tombstones() -> str:
    """Destroyed clips: what they were, when and why they were destroyed."""
    user = user_or_401()
    page = _page_number()
    with unit_of_work() as db:
        found = list(
            db.scalars(
                select(Tombstone)
                .where(Tombstone.site_id == user.site_id)
                .order_by(Tombstone.destroyed_at.desc(), Tombstone.clip_id)
                .offset((page - 1) * TOMBSTONE_PAGE)
                .limit(TOMBSTONE_PAGE + 1)
            )
        )
        rows = found[:TOMBSTONE_PAGE]
        who = person_labels(db, [t.requested_by for t in rows] + [t.destroyed_by for t in rows])
    _audit_view(user, "tombstones")
    pager = {"page": page, "more": len(found) > TOMBSTONE_PAGE}
    return render_template("dpo/tombstones.html", tombstones=rows, who=who, pager=pager)


@bp.get("/tombstones/<clip_id>")
@requires(*GOVERNANCE_ROLES)
def certificate(clip_id: str) -> str:
    """The certificate of destruction of one clip (printable)."""
    user = user_or_401()
    with unit_of_work() as db:
        tomb = db.get(Tombstone, clip_id)
        if tomb is None or tomb.site_id != user.site_id:
            raise NotFound(f"tombstone {clip_id}")
        entry = db.get(AuditEntry, tomb.audit_seq) if tomb.audit_seq else None
        intact = (
            entry is not None
            and entry.hash == tomb.audit_hash
            and entry.action == "clip.destroy"
            and entry.target_id == tomb.clip_id
        )
        horizon = horizon_of(db, tomb.kek_provider, tomb.kek_version, services().clock.now())
        who = person_labels(db, [tomb.requested_by, tomb.destroyed_by])
    _audit_view(user, "certificate", "clip", clip_id)
    return render_template(
        "dpo/certificate.html", tomb=tomb, intact=intact, horizon=horizon, who=who
    )


@bp.get("/clips/<clip_id>/consent")
@requires(*GOVERNANCE_ROLES)
def clip_consent(clip_id: str) -> Response:
    """From a clip's page to the consent it was filmed under (own site only)."""
    with unit_of_work() as db:
        clip = load_site_row(db, Clip, clip_id)
    return redirect(url_for("dpo.consent", consent_id=clip.consent_id))


@bp.get("/clips/<clip_id>/audit")
@requires(*GOVERNANCE_ROLES)
def clip_audit(clip_id: str) -> Response:
    """From a clip's page to its audit trail: who opened, watched or changed it."""
    with unit_of_work() as db:
        clip = load_site_row(db, Clip, clip_id)
    return redirect(url_for("dpo_audit.search", clip=clip.id))


@bp.get("/clips/<clip_id>/hold")
@requires(*GOVERNANCE_ROLES)
def clip_hold(clip_id: str) -> Response:
    """From a clip's page to the legal-hold form with that clip chosen."""
    with unit_of_work() as db:
        clip = load_site_row(db, Clip, clip_id)
    return redirect(url_for("dpo.holds", clip=clip.id, _anchor="place-h"))

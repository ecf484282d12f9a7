"""The audit log for data-protection officers: search, chain verification and exports.

Entries shown and exported are those of the user's own site. Verification checks the
whole chain (it is one chain for every site) and reports only whether it holds and where
it first breaks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, render_template, request
from sqlalchemy import Select, and_, func, or_, select

from storage.audit.export import export_entries
from storage.audit.receipts import issue_receipt
from storage.audit.verify import verify_chain
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.programme import ClipFamily, Family
from storage.db.tenancy import User
from storage.errors import ValidationError
from storage.reports import build_report, render_csv
from webapp.audit_text import GROUPS, describe, load_names
from webapp.authz import GOVERNANCE_ROLES, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work

bp = Blueprint("dpo_audit", __name__, url_prefix="/dpo/audit")

PAGE = 50


@dataclass(frozen=True)
class AuditFilters:
    """The search form. Dates are whole UTC days; ``until`` is inclusive.

    ``person`` matches part of a name or email (the entries they did, or that were done to
    their account); ``actor`` is an exact user id (the links on names); ``clip`` a clip id;
    ``family`` a family code (its clips and consents); ``group`` one of
    :data:`webapp.audit_text.GROUPS`; ``action`` an action id prefix.
    """

    action: str = ""
    actor: str = ""
    target: str = ""
    since: date | None = None
    until: date | None = None
    before: int | None = None
    person: str = ""
    clip: str = ""
    family: str = ""
    group: str = ""

    @classmethod
    def from_args(cls) -> AuditFilters:
        """Parse the query string; raises ValidationError for a malformed date or an
        unknown action group."""
        args = request.args
        before = args.get("before", "")
        group = args.get("group", "").strip()
        if group and group not in GROUPS:
            raise ValidationError("Choose a kind of action from the list.")
        return cls(
            action=args.get("action", "").strip()[:64],
            actor=args.get("actor", "").strip()[:64],
            target=args.get("target", "").strip()[:64],
            since=_day(args.get("since", ""), "From"),
            until=_day(args.get("until", ""), "To"),
            before=int(before) if before.isdigit() else None,
            person=args.get("person", "").strip()[:200],
            clip=args.get("clip", "").strip()[:64],
            family=args.get("family", "").strip().upper()[:64],
            group=group,
        )

    @property
    def since_at(self) -> datetime | None:
        return datetime.combine(self.since, time.min, UTC) if self.since else None

    @property
    def until_at(self) -> datetime | None:
        return (
            datetime.combine(self.until, time.min, UTC) + timedelta(days=1) if self.until else None
        )

    def args(self, **change: object) -> dict[str, object]:
        """The filters as query arguments (for links), with ``change`` applied."""
        values: dict[str, object] = {
            "action": self.action,
            "actor": self.actor,
            "target": self.target,
            "person": self.person,
            "clip": self.clip,
            "family": self.family,
            "group": self.group,
            "since": self.since or "",
            "until": self.until or "",
        }
        values.update(change)
        return {k: v for k, v in values.items() if v not in ("", None)}

    def query(self, site_id: str) -> Select[AuditEntry]:
        """The site's entries matching the filters, newest first (set-based: the person
        and family filters are sub-selects, not per-row lookups)."""
        query = select(AuditEntry).where(AuditEntry.site_id == site_id)
        if self.action:
            query = query.where(AuditEntry.action.startswith(self.action, autoescape=True))
        if self.group:
            query = query.where(AuditEntry.action.in_(GROUPS[self.group][1]))
        if self.actor:
            query = query.where(AuditEntry.actor_id == self.actor)
        if self.target:
            query = query.where(AuditEntry.target_id == self.target)
        if self.person:
            needle = self.person.lower()
            people = select(User.id).where(
                or_(
                    func.lower(User.email).contains(needle, autoescape=True),
                    func.lower(User.display_name).contains(needle, autoescape=True),
                )
            )
            query = query.where(
                or_(
                    AuditEntry.actor_id.in_(people),
                    and_(AuditEntry.target_type == "user", AuditEntry.target_id.in_(people)),
                )
            )
        if self.clip:
            query = query.where(AuditEntry.target_id == self.clip)
        if self.family:
            clips = select(Clip.id).where(Clip.site_id == site_id, Clip.family_code == self.family)
            consents = select(Consent.id).where(
                Consent.site_id == site_id, Consent.family_code == self.family
            )
            # Group-session recordings the family was present in are its footage too.
            present_in = (
                select(ClipFamily.clip_id)
                .join(Family, Family.id == ClipFamily.family_id)
                .where(Family.site_id == site_id, Family.code == self.family)
            )
            query = query.where(
                or_(
                    AuditEntry.target_id.in_(clips),
                    AuditEntry.target_id.in_(consents),
                    AuditEntry.target_id.in_(present_in),
                )
            )
        if self.since_at:
            query = query.where(AuditEntry.at >= self.since_at)
        if self.until_at:
            query = query.where(AuditEntry.at < self.until_at)
        if self.before:
            query = query.where(AuditEntry.seq < self.before)
        return query.order_by(AuditEntry.seq.desc())


def _day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name}: enter a date like 2026-03-01.") from None


def _record(user: CurrentUser, action: str, **details: object) -> None:
    with unit_of_work() as db:
        services().audit.append(
            db,
            user.actor,
            action,
            target_type="site",
            target_id=user.site_id,
            site_id=user.site_id,
            details=details,
        )


@bp.get("")
@requires(*GOVERNANCE_ROLES)
def search() -> tuple[str, int]:
    """Search the site's audit entries by action, actor, target and date."""
    user = user_or_401()
    try:
        filters = AuditFilters.from_args()
        error = None
    except ValidationError as exc:
        filters = AuditFilters()
        error = str(exc)
    with unit_of_work() as db:
        entries = list(db.scalars(filters.query(user.site_id).limit(PAGE + 1)))
        more = len(entries) > PAGE
        entries = entries[:PAGE]
        names = load_names(db, entries)
    rows = [(e, describe(e, names)) for e in entries]
    # Which filters were used, never their values (a search term may be an email).
    _record(user, "audit.search", filters=sorted(filters.args()))
    page = render_template(
        "dpo/audit.html",
        rows=rows,
        names=names,
        filters=filters,
        groups=GROUPS,
        more=more,
        error=error,
        next_before=entries[-1].seq if more and entries else None,
    )
    return page, 400 if error else 200


@bp.get("/verify")
@requires(*GOVERNANCE_ROLES)
def verify() -> str:
    """Check the whole hash chain and its signed checkpoints now."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        result = verify_chain(db, svc.audit.key, svc.audit.checkpoints)
    _record(user, "audit.verify", ok=result.ok)
    return render_template("dpo/verify.html", result=result, checked_at=svc.clock.now())


def _download(body: str, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/export.csv")
@requires(*GOVERNANCE_ROLES)
def export() -> Response:
    """The site's audit entries as CSV (optionally limited to the From/To dates)."""
    user = user_or_401()
    filters = AuditFilters.from_args()
    out = io.StringIO()
    with unit_of_work() as db:
        count = export_entries(
            db,
            out,
            site_id=user.site_id,
            fmt="csv",
            since=filters.since_at,
            until=filters.until_at,
        )
    _record(user, "audit.export", format="csv", entries=count)
    stamp = services().clock.now().strftime("%Y%m%d-%H%M")
    return _download(out.getvalue(), f"verp-audit-{user.site_slug}-{stamp}.csv", "text/csv")


@bp.get("/receipt.json")
@requires("dpo")
def receipt() -> Response:
    """A signed receipt of the audit chain head now, for the DPO to keep off the server.

    ``verp audit verify --receipt FILE`` later proves the log still extends it. Issuing one
    writes a checkpoint and is audited (``audit.receipt``); DPOs only, as the log's witness.
    """
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        data = issue_receipt(db, svc.audit, user.actor, svc.clock.now())
    stamp = svc.clock.now().strftime("%Y%m%d-%H%M%S")
    response = Response(data, mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="verp-audit-receipt-{stamp}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/retention-report.csv")
@requires(*GOVERNANCE_ROLES)
def retention_report() -> Response:
    """Every clip and destroyed clip of the site with consent, retention and certificates."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        verified = verify_chain(db, svc.audit.key, svc.audit.checkpoints)
        report = build_report(db, user.site_id, svc.clock.now(), verified)
    with unit_of_work() as db:  # after the commit, so the receipt covers only committed entries
        report.receipt = issue_receipt(db, svc.audit, user.actor, svc.clock.now()).decode()
    out = io.StringIO()
    render_csv(report, out)
    _record(user, "retention.report", format="csv")
    stamp = svc.clock.now().strftime("%Y%m%d-%H%M")
    return _download(out.getvalue(), f"verp-retention-{user.site_slug}-{stamp}.csv", "text/csv")

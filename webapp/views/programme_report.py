"""The programme report of the user's site: a page and a CSV download (counts only: no
footage, no family codes; see :mod:`storage.programme.report`). For the site's
supervisors (the operational lead), admins and DPOs; every view and download audited."""

from __future__ import annotations

import io

from flask import Blueprint, Response, render_template

from storage.programme.report import programme_report
from storage.programme.report_render import group_lines, render_csv, rollup_lines
from webapp.authz import requires, user_or_401
from webapp.context import services, unit_of_work

bp = Blueprint("programme_report", __name__, url_prefix="/reports")

#: Who reads the site's programme figures (no footage and no family codes in them).
REPORT_ROLES = ("supervisor", "admin", "dpo")


@bp.get("/programme")
@requires(*REPORT_ROLES)
def report() -> str:
    """The site roll-up, then each group's figures and what is due."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        built = programme_report(db, user.site_id, svc.clock.now())
        svc.audit.append(
            db, user.actor, "report.programme", site_id=user.site_id,
            details={"format": "html", "groups": len(built.groups)},
        )  # fmt: skip
    return render_template(
        "programme/report.html",
        report=built,
        rollup=rollup_lines(built),
        groups=[(g, group_lines(g)) for g in built.groups],
    )


@bp.get("/programme.csv")
@requires(*REPORT_ROLES)
def report_csv() -> Response:
    """The same figures as CSV: one row per group and a site row (formula-safe cells)."""
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        built = programme_report(db, user.site_id, now)
        svc.audit.append(
            db, user.actor, "report.programme", site_id=user.site_id,
            details={"format": "csv", "groups": len(built.groups)},
        )  # fmt: skip
    out = io.StringIO()
    render_csv(built, out)
    name = f"verp-programme-{user.site_slug}-{now:%Y%m%d}.csv"
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response

"""The programme report as CSV (formula-safe) and as a self-contained HTML page.

Every value in the HTML is escaped; every CSV cell that a spreadsheet would run as a
formula gets a leading apostrophe. See :mod:`storage.programme.report` for the figures.
"""

from __future__ import annotations

import csv
import html
from typing import TextIO

from storage.programme.report import GroupFigures, ProgrammeReport

FORMATS = ("html", "csv")
#: Cells starting with these are formulas (or become one) in spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "scope",
    "group",
    "name",
    "status",
    "programme_end",
    "families_enrolled",
    "families_due_home_visit_2",
    "families_filmed_home_visit_2",
    "home_visit_clips",
    "shared_reviews_held",
    "days_to_review_median",
    "days_to_review_min",
    "days_to_review_max",
    "supervisions_held",
    "supervisions_required",
    "trainee_reviews_filmed",
    "trainee_reviews_signed_off",
    "training_blocks_signed_off",
    "training_blocks_required",
    "due",
)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (leading apostrophe if risky)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def csv_rows(report: ProgrammeReport) -> list[list[str]]:
    """The report as rows of text cells (header first; one row per group, then the site)."""
    rows = [list(CSV_COLUMNS)]
    for g in report.groups:
        rows.append(
            [
                "group", g.code, g.name, g.status,
                g.programme_end.date().isoformat() if g.programme_end else "",
                str(g.families_enrolled), str(g.families_due_home_visit_2),
                str(g.families_filmed_home_visit_2), str(g.home_visit_clips),
                str(g.shared_reviews_held), _number(g.review_days.median),
                _number(g.review_days.low), _number(g.review_days.high),
                str(g.supervisions_held), str(g.supervisions_required),
                str(g.trainee_reviews_filmed), str(g.trainee_reviews_signed_off),
                str(g.training_blocks_signed_off), str(g.training_blocks_required),
                "; ".join(g.due),
            ]
        )  # fmt: skip
    s = report.rollup
    rows.append(
        [
            "site", "", f"{s.groups} groups", f"{s.groups_running} running, "
            f"{s.groups_ended} ended", "",
            str(s.families_enrolled), str(s.families_due_home_visit_2),
            str(s.families_filmed_home_visit_2),
            str(sum(g.home_visit_clips for g in report.groups)),
            str(s.shared_reviews_held), _number(s.review_days.median),
            _number(s.review_days.low), _number(s.review_days.high),
            str(s.supervisions_held),
            str(sum(g.supervisions_required for g in report.groups)),
            str(sum(g.trainee_reviews_filmed for g in report.groups)),
            str(s.trainee_reviews_signed_off),
            str(s.training_blocks_signed_off), str(s.training_blocks_required), "",
        ]
    )  # fmt: skip
    return rows


def render_csv(report: ProgrammeReport, out: TextIO) -> None:
    """Write the report as CSV; every cell is formula-safe."""
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv_rows(report):
        writer.writerow([safe_cell(cell) for cell in row])


#: (label, value) rows of the site roll-up, in the order an operational lead reads them.
def rollup_lines(report: ProgrammeReport) -> list[tuple[str, str]]:
    """The site roll-up as plain-language (label, figure) pairs (for HTML and the web page)."""
    s = report.rollup
    filmed = f"{s.families_filmed_home_visit_2} of {s.families_due_home_visit_2}"
    if s.families_due_home_visit_2:
        share = round(100 * s.families_filmed_home_visit_2 / s.families_due_home_visit_2)
        filmed += f" ({share}%)"
    return [
        ("Groups", f"{s.groups} ({s.groups_running} running, {s.groups_ended} ended)"),
        ("Families enrolled", str(s.families_enrolled)),
        ("Families filmed at home visit 2 (of those whose visit is due)", filmed),
        ("Shared reviews held", str(s.shared_reviews_held)),
        ("Days from filming to shared review: median (range)", s.review_days.text() or "-"),
        ("Reflective supervisions held", str(s.supervisions_held)),
        (
            "Groups with at least the 3 required supervisions",
            f"{s.groups_supervised_enough} of {s.groups}",
        ),
        ("Ended groups short of supervision", str(s.ended_groups_short_of_supervision)),
        ("Trainee video reviews signed off", str(s.trainee_reviews_signed_off)),
        (
            "Training blocks signed off",
            f"{s.training_blocks_signed_off} of {s.training_blocks_required}",
        ),
    ]


def group_lines(g: GroupFigures) -> list[tuple[str, str]]:
    """One group's figures as (label, figure) pairs."""
    per_family = g.clips_per_filmed_family
    return [
        ("Families enrolled", str(g.families_enrolled)),
        (
            "Filmed at home visit 2",
            f"{g.families_filmed_home_visit_2} of {g.families_due_home_visit_2} due"
            + (f" ({per_family:g} clips per family)" if per_family is not None else ""),
        ),
        ("Shared reviews held", f"{g.shared_reviews_held} of {g.home_visit_clips} clips"),
        ("Days to shared review", g.review_days.text() or "-"),
        ("Reflective supervisions", f"{g.supervisions_held} of {g.supervisions_required}"),
        (
            "Trainee video reviews signed off",
            f"{g.trainee_reviews_signed_off} of {g.trainee_reviews_filmed}",
        ),
        (
            "Training blocks signed off",
            f"{g.training_blocks_signed_off} of {g.training_blocks_required}",
        ),
    ]


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}"
    "section{margin:1.5em 0}"
)


def _table(lines: list[tuple[str, str]]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>' for k, v in lines
    )
    return f"<table>{rows}</table>"


def render_html(report: ProgrammeReport, site_name: str) -> str:
    """A self-contained HTML page of the report (every value escaped, no scripts)."""
    site = html.escape(site_name)
    parts = [
        "<!doctype html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        f"<title>Programme report: {site}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Programme report: {site}</h1>",
        f"<p>Generated {report.generated_at:%d %b %Y %H:%M} UTC. Counts only: no footage "
        "and no family codes.</p>",
        "<section><h2>Site summary</h2>",
        _table(rollup_lines(report)),
        "</section>",
    ]
    for g in report.groups:
        title = html.escape(f"{g.code} {g.name}".strip())
        end = f", ends {g.programme_end:%d %b %Y}" if g.programme_end else ""
        parts += [
            f"<section><h2>Group {title}</h2><p>{html.escape(g.status + end)}</p>",
            _table(group_lines(g)),
        ]
        if g.due:
            items = "".join(f"<li>{html.escape(d)}</li>" for d in g.due)
            parts.append(f"<h3>Due</h3><ul>{items}</ul>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

"""The programme report's figures against the worked example in report_world (by hand),
its CSV (formula-safe, no family codes) and its HTML (escaped), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select, update

from storage.db.programme import Group
from storage.programme.report import DayRange, ProgrammeReport, programme_report
from storage.programme.report_render import csv_rows, render_csv, render_html, safe_cell
from tests.unit.programme.report_world import FAMILY_CODES, ReportWorld, build
from webapp.composition import Services


def _report(services: Services) -> tuple[ReportWorld, ProgrammeReport]:
    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
    with services.db.session() as db:
        return world, programme_report(db, world.site_id, now)


def test_group_figures_match_the_worked_example(services: Services) -> None:
    _, report = _report(services)
    assert [g.code for g in report.groups] == ["GRP-A", "GRP-B"]  # no 'unassigned'
    a, b = report.groups
    assert a.families_enrolled == 3
    assert a.families_due_home_visit_2 == 3
    assert a.families_filmed_home_visit_2 == 2  # family 3's refused/receiving/visit-1 clips
    assert a.home_visit_clips == 4  # the destroyed (retention) clip still counts
    assert a.clips_per_filmed_family == 2.0
    assert a.shared_reviews_held == 3
    assert a.review_day_values == (2, 6, 13)
    assert a.review_days == DayRange(6.0, 2, 13)
    assert a.supervisions_held == 1  # the one booked in 3 days is not held yet
    assert a.supervisions_required == 3
    assert (a.trainee_reviews_filmed, a.trainee_reviews_signed_off) == (2, 1)
    assert (a.training_blocks_signed_off, a.training_blocks_required) == (1, 3)
    end = f"{a.programme_end:%d %b %Y}"
    assert a.due == (
        "Home visit 2: 1 family not filmed yet",
        "Shared review not held yet for 1 home-visit clip",
        f"Soon: 2 more reflective supervisions needed before the group ends on {end}",
        "Training: 2 blocks not signed off yet",
    )
    assert (b.families_enrolled, b.families_due_home_visit_2) == (2, 2)
    assert (b.families_filmed_home_visit_2, b.home_visit_clips, b.shared_reviews_held) == (0, 0, 0)
    assert b.review_days == DayRange(None, None, None)
    assert b.supervisions_held == 3
    assert b.due == ("Home visit 2: 2 families not filmed yet",)


def test_site_rollup_matches_the_worked_example(services: Services) -> None:
    _, report = _report(services)
    s = report.rollup
    assert (s.groups, s.groups_running, s.groups_ended) == (2, 1, 1)
    assert (s.families_enrolled, s.families_due_home_visit_2) == (5, 5)
    assert s.families_filmed_home_visit_2 == 2
    assert s.shared_reviews_held == 3
    assert s.review_days == DayRange(6.0, 2, 13)
    assert s.supervisions_held == 4
    assert s.groups_supervised_enough == 1
    assert s.ended_groups_short_of_supervision == 0
    assert s.trainee_reviews_signed_off == 1
    assert (s.training_blocks_signed_off, s.training_blocks_required) == (1, 3)


def test_ended_group_short_of_supervision_is_reported(services: Services) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
        db.execute(update(Group).where(Group.code == "GRP-A").values(programme_end=now))
    with services.db.session() as db:
        report = programme_report(db, world.site_id, now)
    a = report.groups[0]
    assert "Ended with 1 of 3 reflective supervisions" in a.due
    assert report.rollup.ended_groups_short_of_supervision == 1


def test_supervision_warning_only_close_to_the_end(services: Services) -> None:
    from datetime import timedelta

    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
        db.execute(
            update(Group)
            .where(Group.code == "GRP-A", Group.site_id == world.site_id)
            .values(programme_end=now + timedelta(days=29))
        )
    with services.db.session() as db:
        a = programme_report(db, world.site_id, now).groups[0]
    assert any(d.startswith("2 more reflective supervisions needed") for d in a.due)
    assert not any(d.startswith("Soon:") for d in a.due)


def test_site_without_groups_reports_zeros(services: Services) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
        other = world.other_site_id
        db.execute(update(Group).where(Group.site_id == other).values(unassigned=True))
    with services.db.session() as db:
        report = programme_report(db, other, now)
    assert report.groups == ()
    assert report.rollup.families_enrolled == 0
    assert report.rollup.review_days == DayRange(None, None, None)


def test_csv_has_no_family_code_and_is_formula_safe(services: Services) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
        group = db.scalar(
            select(Group).where(Group.code == "GRP-A", Group.site_id == world.site_id)
        )
        assert group is not None
        group.name = '=HYPERLINK("http://evil.example","x")'
    with services.db.session() as db:
        report = programme_report(db, world.site_id, now)
    out = io.StringIO()
    render_csv(report, out)
    text = out.getvalue()
    assert not any(code in text for code in FAMILY_CODES)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["scope"] for r in rows] == ["group", "group", "site"]
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[0]["families_filmed_home_visit_2"] == "2"
    assert rows[0]["days_to_review_median"] == "6"
    assert (rows[0]["days_to_review_min"], rows[0]["days_to_review_max"]) == ("2", "13")
    assert rows[2]["supervisions_held"] == "4"
    assert rows[2]["supervisions_required"] == "6"
    # The raw rows keep the text; only the writer neutralises it.
    assert csv_rows(report)[1][2].startswith("=")


def test_safe_cell_prefixes_every_formula_start() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}1+1") == f"'{start}1+1"
    assert safe_cell("GRP-A") == "GRP-A"
    assert safe_cell(None) == ""
    assert safe_cell(3) == "3"


def test_html_escapes_and_names_no_family(services: Services) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        world = build(db, now)
        group = db.scalar(
            select(Group).where(Group.code == "GRP-B", Group.site_id == world.site_id)
        )
        assert group is not None
        group.name = "<script>alert(1)</script>"
    with services.db.session() as db:
        report = programme_report(db, world.site_id, now)
    page = render_html(report, "North & <b>South</b>")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "North &amp; &lt;b&gt;South&lt;/b&gt;" in page
    assert not any(code in page for code in FAMILY_CODES)
    assert "6 (2-13)" in page

"""Downgrading from head to the first revision keeps every row of the tables that stay,
also rows other tables reference under enforced foreign keys (SQLite drops columns in
place instead of rebuilding the table), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from tests.unit.programme.test_migration import _insert, _migrate, _seed_0003

KEPT = ("sites", "users", "consents", "clips", "annotations", "replies", "tombstones")


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in KEPT}


def test_downgrade_from_head_to_0001_keeps_every_row(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        _migrate(engine, "upgrade", "0003")
        _seed_0003(engine)
        _migrate(engine, "upgrade", "head")
        with engine.begin() as conn:
            _insert(conn, "annotations", id="a1", clip_id="n1", site_id="north",
                    author_id="hv", author_role="facilitator", start_ms=1000,
                    subject="infant", codes=["smiling"], text="kept")  # fmt: skip
            _insert(conn, "replies", id="r1", annotation_id="a1",
                    site_id="north", author_id="lead", author_role="supervisor",
                    text="a reply that references the annotation")  # fmt: skip
            _insert(conn, "tombstones", clip_id="gone", site_id="north", kind="home-visit",
                    family_code="FAM-0001", consent_id="c1", reason="retention-expired",
                    method="crypto-shred")  # fmt: skip
        before = _counts(engine)
        assert before["annotations"] == 1 and before["replies"] == 1
        _migrate(engine, "downgrade", "0001")
        assert _counts(engine) == before
        with engine.connect() as conn:
            text = conn.execute(sa.text("SELECT text FROM replies WHERE id = 'r1'")).scalar_one()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("annotations")}
        assert text == "a reply that references the annotation"
        assert "shapes" not in columns  # 0006 really went
        _migrate(engine, "upgrade", "head")  # and the way back up still works
        assert _counts(engine) == before
    finally:
        engine.dispose()

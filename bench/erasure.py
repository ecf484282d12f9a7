"""What verified erasure costs per destruction batch, with 10,000 live data keys.

For each database (PostgreSQL at ``VERP_BENCH_PG_URL``, default the local test server,
in a throw-away schema; SQLite in a temporary ``VERP_HOME``) it migrates a real schema,
inserts ``--keys`` clips with wrapped data keys, and then, each round, shreds one key and
times:

* **verify**: :func:`storage.erasure.verify_erasure` as the sweep runs it (PostgreSQL:
  ``VACUUM FULL data_keys`` + ``CHECKPOINT`` + reading the relation file and searching it;
  SQLite: ``wal_checkpoint(TRUNCATE)`` + searching ``verp.db``/``-wal``/``-shm``);
* **baseline**: what an unverified destruction would do in the same run (PostgreSQL:
  plain ``VACUUM data_keys``; SQLite: the bare TRUNCATE checkpoint).

Prints JSON: median and every round of both, their ratio, and the load average.
Usage: ``python bench/erasure.py --json [--keys 10000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy

from config import load_settings
from storage.accounts import create_site
from storage.audit import Actor
from storage.db.engine import Database, make_engine
from storage.db.footage import Clip, Consent, DataKey
from storage.erasure import probe_of, verify_erasure
from webapp.composition import build_services, initialize

PG_URL = os.environ.get("VERP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _fill(db: Database, audit: Any, keys: int) -> list[str]:
    with db.session() as session:
        site = create_site(session, audit, Actor.system("bench"), "bench", "Bench")
        consent = Consent(
            site_id=site.id,
            family_code="FAM-0001",
            participants=["parent-1"],
            purposes=["family-review"],
            form_reference="CF-1",
            taken_by="bench",
            taken_at=NOW,
            created_at=NOW,
        )
        session.add(consent)
        session.flush()
        ids = [str(uuid.uuid4()) for _ in range(keys)]
        common = {"site_id": site.id, "consent_id": consent.id, "kind": "home-visit"}
        session.execute(
            sqlalchemy.insert(Clip),
            [
                {"id": i, "family_code": "FAM-0001", "created_at": NOW, "updated_at": NOW} | common
                for i in ids
            ],
        )
        session.execute(
            sqlalchemy.insert(DataKey),
            [
                {
                    "clip_id": i,
                    "site_id": site.id,
                    "provider": "local",
                    "kek_version": "1",
                    "wrapped": secrets.token_bytes(60),
                    "created_at": NOW,
                }
                for i in ids
            ],
        )
    return ids


def _shred(db: Database, clip_id: str) -> bytes:
    with db.session() as session:
        row = session.get(DataKey, clip_id)
        assert row is not None and row.wrapped is not None
        probe = probe_of("local", row.wrapped)
        row.wrapped, row.destroyed_at = None, NOW
    return probe


def _rounds(
    db: Database, ids: list[str], rounds: int, baseline: Callable[[], object]
) -> dict[str, Any]:
    verify, base, verified = [], [], 0
    for n in range(rounds):
        probe = _shred(db, ids[-1 - 2 * n])
        started = time.perf_counter()
        verdict = verify_erasure(db, {"clip": probe})["clip"]
        verify.append(time.perf_counter() - started)
        verified += verdict.verified
        _shred(db, ids[-2 - 2 * n])
        started = time.perf_counter()
        baseline()
        base.append(time.perf_counter() - started)
    return {
        "verify_s": statistics.median(verify),
        "baseline_s": statistics.median(base),
        "ratio": statistics.median(verify) / max(statistics.median(base), 1e-9),
        "verified_rounds": verified,
        "verify_rounds_s": [round(t, 4) for t in verify],
        "baseline_rounds_s": [round(t, 4) for t in base],
    }


def bench_postgres(keys: int, rounds: int) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(
                environ={}, overrides={"paths.home": home, "database.url": url}
            )
            initialize(settings)
            svc = build_services(settings)
            ids = _fill(svc.db, svc.audit, keys)

            def vacuum() -> None:
                with svc.db.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                ) as conn:
                    conn.exec_driver_sql("VACUUM data_keys")

            result = _rounds(svc.db, ids, rounds, vacuum)
            with svc.db.engine.connect() as conn:
                size = conn.exec_driver_sql("SELECT pg_relation_size('data_keys')").scalar_one()
            svc.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    return {"database": "postgresql", "keys": keys, "data_keys_bytes": size} | result


def bench_sqlite(keys: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(environ={}, overrides={"paths.home": home})
        initialize(settings)
        svc = build_services(settings)
        ids = _fill(svc.db, svc.audit, keys)
        bare = Database(make_engine(settings.database_url), checkpoint_wait=0)
        result = _rounds(svc.db, ids, rounds, bare.checkpoint)
        size = Path(home, "verp.db").stat().st_size
        bare.dispose()
        svc.close()
    return {"database": "sqlite", "keys": keys, "verp_db_bytes": size} | result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {
        "figure": "seconds per destruction batch to verify erasure (median)",
        "load_average": os.getloadavg(),
        "results": [bench_postgres(args.keys, args.rounds), bench_sqlite(args.keys, args.rounds)],
    }
    print(json.dumps(report, indent=2 if not args.json else None))


if __name__ == "__main__":
    main()

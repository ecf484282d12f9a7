"""Benchmark of a KEK epoch rotation: re-wrap N data keys under a new KEK, retire the old.

Each round runs one full :func:`storage.kek.rotate_keys` (claim the epoch, new key-file
version, re-wrap every live data key in batches with compare-and-set updates and an
audit entry per batch, destroy the old KEK) over ``--keys`` clips with a data key each,
on SQLite (the embedded default) and, with ``--postgres``, on PostgreSQL in a scratch
schema. The same-run baseline is the raw work without a database: AES-GCM unwrap +
wrap of the same number of keys in a Python loop. After every round every row is
checked to be on the new version and a sample of keys is unwrapped.

Usage: ``python bench/keys.py --keys 100000 --json`` (``--keys 5000`` for a quick run;
``--postgres`` adds PostgreSQL at ``VERP_BENCH_POSTGRES`` or the local test server).
Exit status 0 when every rotation finished within ``--target-seconds`` (default 300).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

import sqlalchemy  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from config import load_settings  # noqa: E402
from storage.audit import Actor  # noqa: E402
from storage.db.footage import Clip, Consent, DataKey  # noqa: E402
from storage.db.tenancy import Site  # noqa: E402
from storage.kek import RotationOptions, rotate_keys  # noqa: E402
from storage.keys import KeyContext, LocalKeyFile, WrappedKey  # noqa: E402
from webapp.composition import Services, build_services, initialize  # noqa: E402

ACTOR = Actor.system("bench-keys")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def populate(svc: Services, count: int) -> None:
    """One site and consent, ``count`` clips each with a wrapped data key (bulk inserts)."""
    now = datetime.now(UTC)
    site_id, consent_id = str(uuid.uuid4()), str(uuid.uuid4())
    keys = svc.keys
    with svc.db.session() as session:
        session.execute(
            insert(Site), [{"id": site_id, "slug": "bench", "name": "Bench", "created_at": now}]
        )
        session.execute(
            insert(Consent),
            [
                {
                    "id": consent_id,
                    "site_id": site_id,
                    "family_code": "F-BENCH",
                    "participants": ["parent", "infant"],
                    "purposes": ["supervision"],
                    "form_reference": "bench",
                    "taken_by": "bench",
                    "taken_at": now,
                    "created_at": now,
                }
            ],
        )
    step = 10_000
    for start in range(0, count, step):
        clips, data_keys = [], []
        for _ in range(min(step, count - start)):
            clip_id = str(uuid.uuid4())
            clips.append(
                {
                    "id": clip_id,
                    "site_id": site_id,
                    "consent_id": consent_id,
                    "kind": "home-visit",
                    "family_code": "F-BENCH",
                    "status": "ready",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            _, wrapped = keys.generate(KeyContext(site_id, clip_id))
            data_keys.append(
                {
                    "clip_id": clip_id,
                    "site_id": site_id,
                    "provider": wrapped.provider,
                    "kek_version": wrapped.kek_version,
                    "wrapped": wrapped.blob,
                    "created_at": now,
                }
            )
        with svc.db.session() as session:
            session.execute(insert(Clip), clips)
            session.execute(insert(DataKey), data_keys)


def check(svc: Services, count: int, version: str) -> None:
    """Every live key on ``version``; 50 random keys unwrap with a fresh key-file reader."""
    with svc.db.session() as session:
        on = session.scalar(select(func.count()).where(DataKey.kek_version == version))
        assert on == count, f"{on} of {count} keys on version {version}"
        rows = list(session.scalars(select(DataKey).limit(2000)))
    reader = LocalKeyFile(svc.settings.key_file)
    for row in random.sample(rows, min(50, len(rows))):
        assert row.wrapped is not None
        key = reader.unwrap(
            WrappedKey(row.provider, row.kek_version, row.wrapped),
            KeyContext(row.site_id, row.clip_id),
        )
        assert len(key) == 32


def baseline(svc: Services, count: int) -> float:
    """Seconds for the raw AES-GCM unwrap + wrap of ``count`` keys held in memory."""
    keys = svc.keys
    assert isinstance(keys, LocalKeyFile)
    with svc.db.session() as session:
        rows = [
            (
                WrappedKey(r.provider, r.kek_version, r.wrapped or b""),
                KeyContext(r.site_id, r.clip_id),
            )
            for r in session.scalars(select(DataKey))
        ]
    started = time.perf_counter()
    for wrapped, context in rows:
        keys.rewrap(wrapped, context)
    return time.perf_counter() - started


def bench_backend(name: str, url: str, count: int, rounds: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="verp-bench-keys-") as tmp:
        settings = load_settings(
            environ={},
            overrides={"paths.home": str(Path(tmp) / "home"), "database.url": url},
        )
        initialize(settings)
        svc = build_services(settings)
        try:
            started = time.perf_counter()
            populate(svc, count)
            setup = time.perf_counter() - started
            results: list[dict[str, Any]] = []
            for _ in range(rounds):
                load_before = os.getloadavg()
                base = baseline(svc, count)
                started = time.perf_counter()
                report = rotate_keys(
                    svc.db,
                    svc.keys,
                    svc.audit,
                    svc.clock,
                    ACTOR,
                    options=RotationOptions(batch_size=batch),
                )
                seconds = time.perf_counter() - started
                assert report.rewrapped == count and report.retired, report
                check(svc, count, report.current_version)
                results.append(
                    {
                        "seconds": round(seconds, 3),
                        "keys_per_second": round(count / seconds),
                        "baseline_seconds": round(base, 3),
                        "ratio_to_baseline": round(seconds / base, 2),
                        "batches": report.batches,
                        "epoch": report.epoch,
                        "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    }
                )
        finally:
            svc.close()
    best = min(results, key=lambda r: r["seconds"])
    return {
        "backend": name,
        "keys": count,
        "batch_size": batch,
        "setup_seconds": round(setup, 3),
        "best_seconds": best["seconds"],
        "median_seconds": sorted(r["seconds"] for r in results)[len(results) // 2],
        "best_baseline_seconds": min(r["baseline_seconds"] for r in results),
        "rounds": results,
    }


def _pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_keys_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL")
    parser.add_argument("--target-seconds", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    backends: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="verp-bench-keys-db-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'verp.db'}"
        backends.append(bench_backend("sqlite", url, args.keys, args.rounds, args.batch_size))
    if args.postgres:
        base = os.environ.get("VERP_BENCH_POSTGRES", PG_DEFAULT)
        url, schema = _pg_schema_url(base)
        try:
            backends.append(
                bench_backend("postgresql", url, args.keys, args.rounds, args.batch_size)
            )
        finally:
            _drop_schema(base, schema)
    ok = all(b["best_seconds"] <= args.target_seconds for b in backends)
    result = {
        "benchmark": "kek epoch rotation (re-wrap every data key, retire the old KEK)",
        "target": f"each rotation of {args.keys} keys within {args.target_seconds:.0f} s",
        "cpu_count": os.cpu_count(),
        "backends": backends,
        "ok": ok,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for b in backends:
            print(
                f"{b['backend']}: {b['keys']} keys re-wrapped in {b['best_seconds']} s best "
                f"(baseline AES-GCM loop {b['best_baseline_seconds']} s)"
            )
        print("ok" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

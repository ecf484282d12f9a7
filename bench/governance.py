"""Benchmark of governance at a national programme's scale: the retention sweep, the DPO
pages and audit verification with ``--clips`` clips (default 10,000) at one site.

Builds a throwaway installation under /tmp (SQLite, or a fresh schema of the running
PostgreSQL with ``--postgres``) by bulk inserts — one consent per clip (a family each),
ready clips with real wrapped data keys, no footage and no transcoding — then, on
PostgreSQL, ``VACUUM ANALYZE`` (what autovacuum does to a running database), then measures:

* ``sweep_nothing_due``: ``Destroyer.sweep`` when no clip is due (``--rounds`` rounds);
* ``sweep_destroying``: one sweep that destroys ``--destroy`` clips made due (crypto-shred,
  erasure verification, tombstone), per clip;
* the DPO dashboard, holds, tombstones and audit pages, p50/p95 over ``--requests``
  requests each, against ``/account`` measured in the same run (alternating), through
  the app in process (Flask's test client, a signed-in DPO): target p95 <= 3x /account;
* ``verp audit verify``: ``verify_chain`` over the whole chain.

Usage: ``python bench/governance.py --json`` (``--clips 1000 --destroy 100`` for a quick
run). Exit status 0 when every page meets its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

from bench.pgschema import DEFAULT_POSTGRES, pg_schema  # noqa: E402

TARGET_PAGE_RATIO = 3.0
PASSWORD = "bench-password-not-secret"
EMAIL = "dpo@bench.example.org"
PAGES = {
    "dashboard": "/dpo",
    "holds": "/dpo/holds",
    "tombstones": "/dpo/tombstones",
    "audit": "/dpo/audit",
}
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
BATCH = 1000


def build(settings: Any, clips: int) -> tuple[Any, str]:
    """Services over a fresh installation with ``clips`` ready clips at one site (bulk
    inserts); returns the services and the site id."""
    from sqlalchemy import insert

    from storage.accounts import add_user, create_site
    from storage.audit import Actor
    from storage.db.footage import Clip, Consent, DataKey
    from storage.keys import KeyContext
    from webapp.composition import build_services, initialize

    initialize(settings)
    svc = build_services(settings)
    setup = Actor.system("bench")
    now = datetime.now(UTC)
    with svc.db.session() as db:
        site = create_site(db, svc.audit, setup, "bench", "Bench site")
        add_user(
            db, svc.audit, setup, site_id=site.id, email=EMAIL, role="dpo",
            password=PASSWORD, display_name="Bench DPO",
        )  # fmt: skip
        site_id = site.id
    for start in range(0, clips, BATCH):
        consents, rows, keys = [], [], []
        for n in range(start, min(clips, start + BATCH)):
            consent_id, clip_id, family = str(uuid.uuid4()), str(uuid.uuid4()), f"FAM-{n:05d}"
            consents.append({
                "id": consent_id, "site_id": site_id, "family_code": family,
                "participants": ["parent-1", "infant"],
                "purposes": ["family-review", "supervision"], "withdrawn_purposes": [],
                "form_reference": f"CF-{n:05d}", "taken_by": "bench", "taken_at": now,
                "created_at": now,
            })  # fmt: skip
            created = now - timedelta(days=n % 200)
            rows.append({
                "id": clip_id, "site_id": site_id, "consent_id": consent_id,
                "kind": "home-visit", "family_code": family, "title": "", "status": "ready",
                "created_at": created, "updated_at": created,
                "delete_after": created + timedelta(days=365),
            })  # fmt: skip
            _, wrapped = svc.vault.keys.generate(KeyContext(site_id, clip_id))
            keys.append({
                "clip_id": clip_id, "site_id": site_id, "provider": wrapped.provider,
                "kek_version": wrapped.kek_version, "wrapped": wrapped.blob, "created_at": now,
            })  # fmt: skip
        with svc.db.session() as db:
            db.execute(insert(Consent), consents)
            db.execute(insert(Clip), rows)
            db.execute(insert(DataKey), keys)
    settle(svc)
    return svc, site_id


def settle(svc: Any) -> None:
    """Bring a bulk-loaded database to the state a running one is in: PostgreSQL's
    autovacuum analyses and vacuums a table after this many inserts (without statistics
    its planner guesses a site has 3 clips; without the visibility map no scan is
    index-only); SQLite's planner uses no statistics unless ANALYZE is run, and verp
    never runs it, so SQLite is left as it is."""
    from sqlalchemy import text

    if svc.db.engine.dialect.name == "postgresql":
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def sweeps(svc: Any, rounds: int, destroy: int) -> dict[str, Any]:
    """The sweep with nothing due (``rounds`` times), then one destroying ``destroy``."""
    from sqlalchemy import select, update

    from storage.db.footage import Clip
    from storage.destruction import Destroyer

    destroyer = Destroyer(svc.db, svc.vault, svc.audit)
    retention = svc.settings.retention
    idle: list[float] = []
    for _ in range(rounds):
        began = time.perf_counter()
        report = destroyer.sweep(retention)
        idle.append(time.perf_counter() - began)
        assert not report.destroyed and not report.failed
    with svc.db.session() as db:
        ids = list(db.scalars(select(Clip.id).order_by(Clip.id).limit(destroy)))
        # Uploaded long ago: past every hard cap, so the sweep's recompute makes them due.
        long_ago = datetime.now(UTC) - timedelta(days=3000)
        db.execute(update(Clip).where(Clip.id.in_(ids)).values(created_at=long_ago))
    began = time.perf_counter()
    report = destroyer.sweep(retention)
    spent = time.perf_counter() - began
    return {
        "sweep_nothing_due": {
            "rounds_s": [round(x, 3) for x in idle],
            "median_s": round(statistics.median(idle), 3),
        },
        "sweep_destroying": {
            "made_due": len(ids),
            "destroyed": len(report.destroyed),
            "failed": len(report.failed),
            "erasure_pending": len(report.erasure_pending),
            "seconds": round(spent, 3),
            "per_clip_ms": round(spent * 1000 / max(1, len(ids)), 2),
        },
    }


def pages(svc: Any, requests: int) -> dict[str, Any]:
    """p50/p95 of each DPO page and of /account, alternating, as a signed-in DPO."""
    from webapp.app import create_app

    app = create_app(services=svc)
    client = app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    signed = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    if signed.status_code != 302:
        raise RuntimeError(f"login failed: {signed.status_code}")
    result: dict[str, Any] = {}
    for name, url in PAGES.items():
        own: list[float] = []
        base: list[float] = []
        sizes: set[int] = set()
        for n in range(requests + 2):  # two warm-up requests of each
            page_s = timed(lambda url=url, sizes=sizes: _get(client, url, sizes))
            account_s = timed(lambda: _get(client, "/account", set()))
            if n >= 2:
                own.append(page_s * 1000)
                base.append(account_s * 1000)
        ratio = pct(own, 95) / pct(base, 95)
        result[name] = {
            "url": url,
            "p50_ms": round(pct(own, 50), 2),
            "p95_ms": round(pct(own, 95), 2),
            "account_p50_ms": round(pct(base, 50), 2),
            "account_p95_ms": round(pct(base, 95), 2),
            "p95_ratio_vs_account": round(ratio, 2),
            "target_ratio_max": TARGET_PAGE_RATIO,
            "html_bytes": max(sizes),
            "rounds_ms": [round(x, 2) for x in own],
            "account_rounds_ms": [round(x, 2) for x in base],
        }
    return result


def _get(client: Any, url: str, sizes: set[int]) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code}")
    sizes.add(len(response.get_data()))


def _token(html: str) -> str:
    found = _META.search(html)
    if found is None:
        raise RuntimeError("no CSRF token on the login page")
    return found.group(1)


def verify(svc: Any) -> dict[str, Any]:
    from storage.audit.verify import verify_chain

    with svc.db.session() as db:
        began = time.perf_counter()
        result = verify_chain(db, svc.audit.key, svc.audit.checkpoints)
        spent = time.perf_counter() - began
    return {"ok": result.ok, "entries": result.head_seq, "seconds": round(spent, 3)}


def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    from config import load_settings

    with tempfile.TemporaryDirectory(prefix="verp-bench-gov-") as tmp:
        overrides: dict[str, Any] = {
            "paths.home": str(Path(tmp) / "home"), "web.secure_cookies": False,
            "queue.url": "memory://",
        }  # fmt: skip
        if database_url:
            overrides["database.url"] = database_url
        settings = load_settings(environ={}, overrides=overrides)
        began = time.perf_counter()
        svc, _ = build(settings, args.clips)
        built = time.perf_counter() - began
        try:
            page_stats = pages(svc, args.requests)  # before the sweep: every clip live
            sweep_stats = sweeps(svc, args.rounds, args.destroy)
            tomb_stats = pages(svc, args.requests)["tombstones"]  # with tombstones to list
            audit_stats = verify(svc)
        finally:
            svc.close()
    page_stats["tombstones_after_destroying"] = tomb_stats
    met = all(p["p95_ratio_vs_account"] <= TARGET_PAGE_RATIO for p in page_stats.values())
    return {
        "database": "postgresql" if database_url else "sqlite",
        "clips": args.clips,
        "build_s": round(built, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **sweep_stats,
        "pages": page_stats,
        "audit_verify": audit_stats,
        "targets_met": met,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--destroy", type=int, default=1_000, help="clips the sweep destroys")
    parser.add_argument("--rounds", type=int, default=3, help="sweeps with nothing due")
    parser.add_argument("--requests", type=int, default=30, help="requests per page")
    parser.add_argument(
        "--postgres", nargs="?", const=DEFAULT_POSTGRES, default="", metavar="URL",
        help="run on a fresh schema of this PostgreSQL server instead of SQLite",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.postgres:
        with pg_schema(args.postgres, "bench_gov") as url:
            result = run(args, url)
    else:
        result = run(args, "")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())

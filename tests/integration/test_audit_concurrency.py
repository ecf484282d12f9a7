"""Two processes appending to the audit log at once neither fork the chain nor fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from storage.audit.verify import verify_chain
from storage.db.governance import AuditEntry
from tests.integration.governance_env import base_env, services_for

APPENDS = 80

WRITER = """
import sys
from sqlalchemy import select
from config import load_settings
from storage.audit import Actor
from storage.db.tenancy import Site
from webapp.composition import build_services

svc = build_services(load_settings())
errors = 0
for i in range(int(sys.argv[1])):
    try:
        with svc.db.session() as session:
            session.scalars(select(Site)).all()  # a read before the append, as callers do
            svc.audit.append(session, Actor.system(sys.argv[2]), "test.append", details={"i": i})
    except Exception as exc:
        errors += 1
        print(type(exc).__name__, exc, file=sys.stderr)
print(errors)
"""


def test_concurrent_appends_keep_one_chain(db_url: str, tmp_path: Path) -> None:
    env = base_env(tmp_path / "home", db_url)
    svc = services_for(env)  # initialises the schema and keys
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(APPENDS), name],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "0", err
    with svc.db.session() as session:
        total = session.scalar(select(func.count()).select_from(AuditEntry))
        appended = session.scalar(select(func.count()).where(AuditEntry.action == "test.append"))
        result = verify_chain(session, svc.audit.key, svc.audit.checkpoints)
    assert appended == 2 * APPENDS
    # Every checkpoint the writers wrote (one per audit.checkpoint_every entries) is
    # recorded in the chain as one more entry, and is in the store.
    assert svc.audit.checkpoints is not None
    assert total == 2 * APPENDS + result.recorded_checkpoints
    assert result.recorded_checkpoints == len(svc.audit.checkpoints.names()) >= 2
    assert result.ok and result.head_seq == total, result.problem
    svc.close()

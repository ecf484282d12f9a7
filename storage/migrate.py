"""Schema migrations with Alembic, driven programmatically (no alembic.ini needed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent).

    A database already at the head revision is left as it is without loading the
    migration scripts again (what Alembic would conclude too, only slower: every service
    start and every test calls this).
    """
    cfg = _config(engine)
    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() == _head():
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


@cache
def _head() -> str | None:
    """The head revision, read once per process (the scripts do not change under it)."""
    return head_revision()


def autogenerate(engine: Engine, message: str) -> None:
    """Developer helper: write a new revision from the models (``make migration``)."""
    cfg = _config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)

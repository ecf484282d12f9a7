"""Migrated databases for tests without running the migrations for every test.

Each test process (each xdist worker) migrates one template per backend the first time a
test needs it, with the product's own path (``make_engine`` + ``upgrade_to_head``, as
``verp init`` does), and then hands out copies:

* SQLite — the migrated template file's bytes are written into the test's database file,
  created with mode 0600 as ``prepare_private_sqlite`` creates it;
* PostgreSQL — every test database is a database of its own, made with
  ``CREATE DATABASE ... TEMPLATE``: from the migrated template, or from ``template0`` when
  the test wants an empty one (the migration tests). Names carry the worker id and a random
  tag, so two workers (or two people's runs) never share one; each is dropped after its
  test, the template at the end of the session.

A copy is byte-for-byte (SQLite) or block-for-block (PostgreSQL) what ``upgrade_to_head``
left, ``alembic_version`` row included. ``initialize`` still runs ``upgrade_to_head`` on
it, which finds the database current and does nothing.

:func:`prepare_database` only ever fills an *empty* database (no SQLite file yet, or a
test database of ours without tables), so a test that migrates by hand, or a CLI run that
already ran ``verp init``, is left alone.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

from config import Settings
from storage.db.engine import make_engine
from storage.migrate import upgrade_to_head

#: Prefix of every PostgreSQL database these helpers create (templates and per-test).
PG_PREFIX = "verp_t_"


class Templates:
    """The templates of one test process. Nothing is migrated until first needed.

    ``workdir``: a private directory for the SQLite template; ``pg_url``: the server's
    URL (its database is only used to issue CREATE/DROP DATABASE).
    """

    def __init__(self, workdir: Path, pg_url: str) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._tag = f"{worker}_{uuid.uuid4().hex[:8]}"
        self._workdir = workdir
        self._pg_url = pg_url
        self._sqlite: bytes | None = None
        self._pg_template: str | None = None
        self._admin: sqlalchemy.Engine | None = None
        self._made: set[str] = set()  # our per-test databases still existing
        self._filled: set[str] = set()  # those known to be migrated
        self._count = 0

    # SQLite

    def sqlite_bytes(self) -> bytes:
        """The migrated SQLite file (migrated on first call)."""
        if self._sqlite is None:
            path = self._workdir / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                upgrade_to_head(engine)
            finally:
                engine.dispose()  # the last close checkpoints and removes the -wal file
            leftovers = [p.name for p in self._workdir.iterdir() if p != path]
            assert not leftovers, f"SQLite template left {leftovers} beside the database"
            self._sqlite = path.read_bytes()
        return self._sqlite

    def fill_sqlite(self, path: Path) -> bool:
        """Write the template into ``path`` if it does not exist or is empty (0600)."""
        if not str(path) or str(path) == ":memory:":
            return False
        if path.exists() and path.stat().st_size > 0:
            return False
        data = self.sqlite_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return True

    # PostgreSQL

    def _admin_engine(self) -> sqlalchemy.Engine:
        if self._admin is None:
            self._admin = sqlalchemy.create_engine(
                self._pg_url, isolation_level="AUTOCOMMIT", pool_size=1
            )
        return self._admin

    def _execute(self, sql: str) -> None:
        with self._admin_engine().connect() as conn:
            conn.exec_driver_sql(sql)

    def _url_of(self, database: str) -> str:
        return make_url(self._pg_url).set(database=database).render_as_string(hide_password=False)

    def _template(self) -> str:
        if self._pg_template is None:
            name = f"{PG_PREFIX}tpl_{self._tag}"
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            self._pg_template = name
            engine = make_engine(self._url_of(name))
            try:
                upgrade_to_head(engine)
            finally:
                engine.dispose()
        return self._pg_template

    def new_pg_database(self, migrated: bool) -> str:
        """A new database of its own (migrated or empty); returns its URL."""
        source = self._template() if migrated else "template0"
        self._count += 1
        name = f"{PG_PREFIX}{self._tag}_{self._count}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self._made.add(name)
        url = self._url_of(name)
        if migrated:
            self._filled.add(url)
        return url

    def drop_pg_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_pg_database` (its connections are ended)."""
        name = make_url(url).database
        assert name in self._made, f"not a test database of ours: {name}"
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.discard(name)
        self._filled.discard(url)

    def fill_pg(self, url: str) -> bool:
        """Replace an empty test database of ours by a copy of the migrated template."""
        name = make_url(url).database
        if name not in self._made or url in self._filled:
            return False
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
        try:
            with engine.connect() as conn:
                tables = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                ).scalar_one()
        finally:
            engine.dispose()
        if tables:
            self._filled.add(url)
            return False
        template = self._template()
        self._execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._filled.add(url)
        return True

    def close(self) -> None:
        """Drop what is left: per-test databases a failed teardown kept, and the template."""
        if self._admin is None:
            return
        for name in sorted(self._made):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()
        if self._pg_template is not None:
            self._execute(f'DROP DATABASE IF EXISTS "{self._pg_template}" WITH (FORCE)')
            self._pg_template = None
        self._admin.dispose()
        self._admin = None

    # Both

    def prepare(self, url: str) -> bool:
        """Fill the database at ``url`` from the template if it is empty; True if filled."""
        if url.startswith("sqlite:///"):
            return self.fill_sqlite(Path(url.removeprefix("sqlite:///").split("?", 1)[0]))
        if url.startswith("postgresql"):
            return self.fill_pg(url)
        return False


_active: Templates | None = None


def activate(templates: Templates | None) -> None:
    """Make ``templates`` the one :func:`prepare_database` uses (None: none)."""
    global _active
    _active = templates


def active() -> Templates:
    assert _active is not None, "tests.db_templates is not active (the session fixture is)"
    return _active


def prepare_database(settings: Settings) -> None:
    """Before ``initialize``: give an empty test database the migrated schema by copying.

    The home directory is made first with the mode ``initialize`` gives it (0700), as the
    product makes it before its SQLite file. Outside a test session (no active templates)
    this does nothing, and ``initialize`` migrates as usual.
    """
    if _active is None:
        return
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    _active.prepare(settings.database_url)

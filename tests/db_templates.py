"""Migrated databases for tests without running the migrations for every test.

Each test process (each xdist worker) migrates one template per backend the first time a
test needs it, with the product's own path (``make_engine`` + ``upgrade_to_head``, as
``verp init`` does), and then hands out copies:

* SQLite — the migrated template file's bytes are written into the test's database file,
  created with mode 0600 as ``prepare_private_sqlite`` creates it: byte for byte what
  ``upgrade_to_head`` left;
* PostgreSQL — the worker has a database of its own (``verp_t_<worker>_<random>``, dropped
  at the end of the session) and each test a schema in it, reached through the URL's
  ``search_path`` as before. The template schema is migrated once while every statement
  sent to the server is recorded; a test's schema gets the same statements, with the same
  parameters, in one transaction — the same SQL on the same empty schema, without the
  Python side of Alembic. (A clone with ``CREATE DATABASE ... TEMPLATE`` was slower here:
  it creates ~480 files per test against ~180 for the schema, and file creation is most
  of what PostgreSQL spends on either.)

``initialize`` still runs ``upgrade_to_head`` on the copy, which finds it current.
:func:`prepare_database` only ever fills an *empty* database (no SQLite file yet, or a
schema of ours without tables), so a test that migrates by hand, or a CLI run that
already ran ``verp init``, is left alone.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, NamedTuple, cast

import psycopg
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import ExecuteStyle

from config import Settings
from storage.db.engine import make_engine
from storage.migrate import upgrade_to_head

#: Prefix of every PostgreSQL database these helpers create (one per worker).
PG_PREFIX = "verp_t_"
_TEMPLATE_SCHEMA = "verp_template"


class _Statement(NamedTuple):
    """One statement as SQLAlchemy handed it to the driver's cursor."""

    sql: str
    params: Any
    many: bool


class Templates:
    """The templates of one test process. Nothing is migrated until first needed.

    ``workdir``: a private directory for the SQLite template; ``pg_url``: the server's
    URL (its database is only used to create and drop the worker's database).
    """

    def __init__(self, workdir: Path, pg_url: str) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._database = f"{PG_PREFIX}{worker}_{uuid.uuid4().hex[:8]}"
        self._workdir = workdir
        self._pg_url = pg_url
        self._sqlite: bytes | None = None
        self._server: sqlalchemy.Engine | None = None  # CREATE/DROP DATABASE
        self._worker: sqlalchemy.Engine | None = None  # the worker's database
        self._statements: list[_Statement] | None = None
        self._made: dict[str, str] = {}  # URL -> schema, for schemas still existing
        self._filled: set[str] = set()  # URLs of those known to be migrated
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

    def _worker_engine(self) -> sqlalchemy.Engine:
        """The worker's database (created on first use) in autocommit mode."""
        if self._worker is None:
            self._server = sqlalchemy.create_engine(
                self._pg_url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.NullPool
            )
            with self._server.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self._database}" TEMPLATE template0')
            url = make_url(self._pg_url).set(database=self._database)
            self._worker = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        return self._worker

    def _schema_url(self, schema: str) -> str:
        url = make_url(self._pg_url).set(database=self._database)
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self._worker_engine().connect() as conn:
            conn.exec_driver_sql(sql)

    def _migration(self) -> list[_Statement]:
        """What migrating an empty schema sends to the server (migrated on first call)."""
        if self._statements is None:
            self._execute(f'CREATE SCHEMA "{_TEMPLATE_SCHEMA}"')
            recorded: list[_Statement] = []
            engine = make_engine(self._schema_url(_TEMPLATE_SCHEMA))

            @event.listens_for(engine, "before_cursor_execute")
            def _record(
                _conn: Any, _cur: Any, sql: str, params: Any, ctx: Any, _many: bool
            ) -> None:
                # As Connection._exec_single_context calls the cursor: executemany, a
                # bare execute(sql) (no parameters at all), or execute(sql, params).
                many = ctx.execute_style is ExecuteStyle.EXECUTEMANY
                bare = not many and not params and ctx.no_parameters
                recorded.append(_Statement(sql, None if bare else params, many))

            try:
                upgrade_to_head(engine)
            finally:
                engine.dispose()
            named = [s.sql for s in recorded if _TEMPLATE_SCHEMA in f"{s.sql} {s.params!r}"]
            assert not named, f"a migration names its schema, cannot replay: {named[:1]}"
            self._statements = recorded
        return self._statements

    def _replay(self, schema: str) -> None:
        """Send the recorded migration to ``schema`` in one transaction, each statement
        with the very parameters it had (the raw cursor, as SQLAlchemy called it)."""
        statements = self._migration()
        with self._worker_engine().connect() as conn:
            driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
            with driver.transaction(), driver.cursor() as cursor:
                cursor.execute(f'SET LOCAL search_path TO "{schema}"')
                for statement in statements:
                    if statement.many:
                        cursor.executemany(statement.sql, statement.params)
                    elif statement.params is None:
                        cursor.execute(statement.sql)
                    else:
                        cursor.execute(statement.sql, statement.params)

    def new_pg_database(self, migrated: bool) -> str:
        """A new schema of its own (migrated or empty); returns the URL that reaches it."""
        self._count += 1
        schema = f"t_{self._count}"
        self._execute(f'CREATE SCHEMA "{schema}"')
        url = self._schema_url(schema)
        self._made[url] = schema
        if migrated:
            self._replay(schema)
            self._filled.add(url)
        return url

    def drop_pg_database(self, url: str) -> None:
        """Drop a schema made by :meth:`new_pg_database`, with everything in it."""
        schema = self._made.pop(url)
        self._filled.discard(url)
        self._execute(f'DROP SCHEMA "{schema}" CASCADE')

    def fill_pg(self, url: str) -> bool:
        """Migrate an empty schema of ours by replaying the template's migration."""
        schema = self._made.get(url)
        if schema is None or url in self._filled:
            return False
        with self._worker_engine().connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %(schema)s",
                {"schema": schema},
            ).scalar_one()
        if not tables:
            self._replay(schema)
        self._filled.add(url)
        return not tables

    def close(self) -> None:
        """Drop the worker's database (schemas a failed teardown kept go with it)."""
        if self._worker is None or self._server is None:
            return
        self._worker.dispose()
        with self._server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        self._server.dispose()
        self._worker = self._server = None
        self._made.clear()
        self._filled.clear()

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

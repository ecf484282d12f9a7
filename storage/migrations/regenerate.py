"""Developer tool: rebuild the single pre-release migration from the ORM models.

Usage: python -m storage.migrations.regenerate
Until the first release the schema lives in one revision, 0001_initial.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from storage.db.engine import make_engine
from storage.migrate import MIGRATIONS, autogenerate


def main() -> None:
    versions = MIGRATIONS / "versions"
    for old in versions.glob("*_initial.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
        autogenerate(engine, "initial")
        engine.dispose()
    produced = [p for p in versions.glob("*_initial.py")]
    for path in produced:
        text = path.read_text()
        rev = text.split("revision: str = ", 1)[1].split("\n", 1)[0].strip().strip("'\"")
        text = text.replace(rev, "0001")
        path.rename(versions / "0001_initial.py")
        (versions / "0001_initial.py").write_text(text)


if __name__ == "__main__":
    main()

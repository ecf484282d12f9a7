"""Verified erasure of shredded data keys (docs/retention.md, "Erasure").

A destruction is complete only once :func:`verify_erasure` has found the wrapped key gone
from every live database file: SQLite after a completed TRUNCATE checkpoint, PostgreSQL
after ``VACUUM FULL`` of the key table, each followed by a search of the files for the
key's :func:`probe_of`.
"""

from storage.erasure.probe import PROBE_SIZE, probe_of, probes_in_file
from storage.erasure.result import Verdict
from storage.erasure.sqlite import database_files
from storage.erasure.verify import verify_erasure

__all__ = [
    "PROBE_SIZE",
    "Verdict",
    "database_files",
    "probe_of",
    "probes_in_file",
    "verify_erasure",
]

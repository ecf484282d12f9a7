"""Plaintext output files that nothing can read under any name until they are complete.

``PrivateOutput(target, partials=...)`` is a writable file of mode 0600 that becomes
``target`` only when :meth:`PrivateOutput.publish` is called, and never replaces an
existing file. Where the file system supports it the data goes into an unnamed
``O_TMPFILE`` inode that a killed process takes with it; elsewhere into a 0600 partial
file that is removed on every exit path and, after SIGKILL or a power cut, by
:func:`sweep_partials` at the next start.
"""

from storage.private_output.partials import PARTIAL_PREFIX, sweep_partials
from storage.private_output.writer import PrivateOutput

__all__ = ["PARTIAL_PREFIX", "PrivateOutput", "sweep_partials"]

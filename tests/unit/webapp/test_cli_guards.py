"""The CLI's plaintext guards: stop signals unwind the stack (so clean-up runs), a
second signal cannot cut the clean-up short, and files are created private."""

from __future__ import annotations

import os
import signal
import time

import pytest

from webapp.cli.guards import PRIVATE_UMASK, exit_status_for, stop_signals_raise


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(1)  # the handler runs at the next bytecode; this is never reached
    pytest.fail("the signal did not interrupt the block")


@pytest.mark.parametrize(
    ("signum", "raised", "code"),
    [
        (signal.SIGTERM, SystemExit, 143),
        (signal.SIGHUP, SystemExit, 129),
        (signal.SIGINT, KeyboardInterrupt, None),
    ],
)
def test_a_stop_signal_unwinds_and_the_clean_up_runs(
    signum: int, raised: type[BaseException], code: int | None
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    umask_before = os.umask(0o022)
    cleaned = []
    try:
        with pytest.raises(raised) as caught, stop_signals_raise():
            assert os.umask(PRIVATE_UMASK) == PRIVATE_UMASK  # (reads it back)
            try:
                _deliver(signum)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second stop is ignored here
                time.sleep(0.05)
                cleaned.append(True)
        if code is not None:
            assert caught.value.args == (code,)
        assert cleaned == [True]
        assert {s: signal.getsignal(s) for s in before} == before
        assert os.umask(0o022) == 0o022, "the umask is restored"
    finally:
        os.umask(umask_before)


def test_exit_status_follows_the_convention() -> None:
    assert exit_status_for(None) == 0
    assert exit_status_for(signal.SIGTERM) == 143
    assert exit_status_for(signal.SIGINT) == 130

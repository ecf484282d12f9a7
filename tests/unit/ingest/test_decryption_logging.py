"""The worker logs decryption and key failures without their cause: the queue logs a
failed job with a traceback, which must not carry the chained cryptography error."""

from __future__ import annotations

import logging
import traceback

import pytest

from ingest import pipeline
from ingest.pipeline import TransientFailure
from storage.db.footage import DataKey
from tests.unit.ingest.staging import clip_row, stage_clip
from webapp.composition import Services

TELLTALES = ("InvalidTag", "cryptography", "cannot be unwrapped", "short read")


def _spoil_wrapped_key(services: Services, clip_id: str) -> None:
    with services.db.session() as session:
        row = session.get(DataKey, clip_id)
        assert row is not None and row.wrapped is not None
        spoiled = bytearray(row.wrapped)
        spoiled[20] ^= 0x01  # inside the wrapped key: its tag fails
        row.wrapped = bytes(spoiled)


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    text = []
    for record in caplog.records:
        text.append(record.getMessage())
        if record.exc_info:
            text.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(text)


def test_an_unwrappable_key_is_retried_without_its_cause(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    clip_id = stage_clip(services, b"not even a video" * 100)
    _spoil_wrapped_key(services, clip_id)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransientFailure) as caught:
        pipeline.process_clip(services, clip_id)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    shown = "".join(traceback.format_exception(caught.value))
    assert not [t for t in TELLTALES if t in shown], shown
    assert "KeyProviderError" in str(caught.value)  # the class name, for the operator
    assert clip_row(services, clip_id).status == "queued"  # handed back for a retry


def test_the_queue_logs_the_failed_job_without_the_cause(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    clip_id = stage_clip(services, b"not even a video" * 100)
    _spoil_wrapped_key(services, clip_id)
    caplog.set_level(logging.DEBUG)
    services.queue.enqueue_process(clip_id)
    assert services.queue.run_once() >= 1
    failed = [r for r in caplog.records if r.exc_info]
    assert failed, "huey logs a failed job with its traceback"
    logged = _everything_logged(caplog)
    assert clip_id in logged
    assert not [t for t in TELLTALES if t in logged], logged

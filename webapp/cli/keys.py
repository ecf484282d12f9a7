"""`verp keys ...`: key-encryption-key status and rotation."""

from __future__ import annotations

import click

from storage.rotation import DEFAULT_BATCH, key_status, rotate_keys
from webapp.cli.common import CLI_ACTOR, emit, json_option, services


@click.group("keys")
def keys() -> None:
    """Inspect and rotate the key-encryption key (KEK)."""


@keys.command("status")
@json_option
def keys_status(as_json: bool) -> None:
    """Show the provider, the current KEK version and data keys per version."""
    with services() as svc, svc.db.session() as session:
        status = key_status(session, svc.keys)
    lines = [
        f"provider: {status.provider}",
        f"current version: {status.current_version}",
        *(f"data keys on {v}: {n}" for v, n in sorted(status.live_by_version.items())),
        *(f"data keys of provider {p}: {n}" for p, n in sorted(status.other_providers.items())),
        f"destroyed (shredded): {status.destroyed}",
    ]
    if status.rotation_incomplete:
        lines.append("rotation incomplete: run `verp keys rotate` to finish it")
    emit(status.as_dict(), as_json, text="\n".join(lines))


@keys.command("rotate")
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(min=1),
    help="Data keys re-wrapped per transaction.",
)
@json_option
def keys_rotate(batch_size: int, as_json: bool) -> None:
    """Rotate the KEK and re-wrap every data key; video is not re-encrypted.

    Safe to interrupt: running it again finishes the unfinished rotation first.
    """
    with services() as svc:
        report = rotate_keys(
            svc.db, svc.keys, svc.audit, svc.clock, CLI_ACTOR, batch_size=batch_size
        )
    if report.provider == "kms":
        head = f"current KMS key {report.current_version}"
    elif report.added_version:
        head = f"new KEK version {report.added_version}"
    else:
        head = f"finished the unfinished rotation to KEK version {report.current_version}"
    lines = [head, f"re-wrapped {report.rewrapped} data keys in {report.batches} batches"]
    if report.retired:
        lines.append(f"retired KEK versions {', '.join(report.retired)}")
    if report.still_in_use:
        lines.append(
            f"not retired (still in use): {', '.join(report.still_in_use)}; run again to finish"
        )
    if report.provider == "kms":
        lines.append("KMS rotates its key material itself; enable automatic key rotation")
    emit(report.as_dict(), as_json, text="\n".join(lines))


def register(cli: click.Group) -> None:
    cli.add_command(keys)

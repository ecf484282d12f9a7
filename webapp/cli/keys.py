"""`verp keys ...`: key-encryption-key status, rotation and epochs."""

from __future__ import annotations

from datetime import timedelta

import click

from storage.kek import (
    DEFAULT_BATCH,
    EpochPolicy,
    RotationOptions,
    epoch_keys,
    key_status,
    rotate_keys,
    views,
)
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
@click.option(
    "--retire-now",
    is_flag=True,
    help="Destroy the old KEK without the grace period (only while no web or worker "
    "process is creating data keys).",
)
@json_option
def keys_rotate(batch_size: int, retire_now: bool, as_json: bool) -> None:
    """Start a new KEK epoch now: re-wrap every data key, then destroy the old KEK.

    Video is not re-encrypted. Safe to interrupt: running it again finishes the
    unfinished rotation first. The worker does the same every `keys.epoch_days` and
    destroys an old KEK once its grace period (`keys.epoch_grace_minutes`) has passed.
    """
    with services() as svc:
        policy = EpochPolicy.from_settings(svc.settings)
        grace = timedelta(0) if retire_now else policy.retire_grace
        options = RotationOptions(batch_size=batch_size, period=policy.period, retire_grace=grace)
        report = rotate_keys(svc.db, svc.keys, svc.audit, svc.clock, CLI_ACTOR, options=options)
        epochal = epoch_keys(svc.keys) is not None
    if report.added_version:
        head = f"new KEK epoch {report.epoch} (version {report.added_version})"
    elif epochal:
        head = f"finished the unfinished rotation to KEK version {report.current_version}"
    else:
        head = f"current KMS key {report.current_version} (not an alias: no epochs)"
    lines = [head, f"re-wrapped {report.rewrapped} data keys in {report.batches} batches"]
    if report.retired:
        lines.append(f"retired (destroyed) KEK versions {', '.join(report.retired)}")
    if report.in_grace:
        lines.append(
            f"kept for the grace period: {', '.join(report.in_grace)}; the worker destroys "
            "it afterwards (or run again with --retire-now)"
        )
    if report.still_in_use:
        lines.append(
            f"not retired (still in use): {', '.join(report.still_in_use)}; run again to finish"
        )
    emit(report.as_dict(), as_json, text="\n".join(lines))


@keys.command("epochs")
@json_option
def keys_epochs(as_json: bool) -> None:
    """List the KEK epochs: created, current from, retired, key material destroyed."""
    with services() as svc, svc.db.session() as session:
        rows = views(session, svc.keys.name, svc.clock.now())
    data = [row.as_dict() for row in rows]
    lines = [
        f"epoch {r.number} [{r.state}] version {r.kek_version or '-'}: created "
        f"{r.created_at:%Y-%m-%d %H:%M}, current from {_when(r.current_from)}, "
        f"retire due {_when(r.retire_due_at)}, retired {_when(r.retired_at)}, "
        f"destroyed {_when(r.destroyed_at)}"
        for r in rows
    ]
    emit(data, as_json, text="\n".join(lines) or "no epochs recorded yet")


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


def register(cli: click.Group) -> None:
    cli.add_command(keys)

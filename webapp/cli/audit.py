"""`verp audit verify|export|receipt|public-key`: the tamper-evident audit log.

None of these reads footage. ``receipt`` and ``public-key`` give a DPO what she needs to
check the log later without trusting the server: a signed receipt of the chain head now,
and the public key that verifies it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from storage.accounts import site_by_slug
from storage.audit.checkpoints import Checkpoint, Checkpoints
from storage.audit.export import FORMATS as EXPORT_FORMATS
from storage.audit.export import export_entries
from storage.audit.receipts import issue_receipt, parse_receipt
from storage.audit.signing import PublicKey
from storage.audit.verify import verify_chain
from storage.errors import AuditIntegrityError
from storage.keys import write_private_file
from webapp.cli.common import CLI_ACTOR, emit, json_option, services
from webapp.cli.governance import _parse_time, _write_output
from webapp.composition import Services


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit log: verify it, export it, take a receipt of it."""


def _trusted_key(svc: Services, public_key_file: str | None) -> PublicKey:
    if public_key_file is not None:
        try:
            return PublicKey.from_pem(Path(public_key_file).read_bytes())
        except OSError as exc:
            raise click.BadParameter(str(exc.strerror), param_hint="--public-key") from None
    if svc.audit.checkpoints is None:
        raise AuditIntegrityError("no checkpoint key is configured")
    return svc.audit.checkpoints.public_key


def _receipt_problem(receipt_file: str, trusted: PublicKey) -> tuple[Checkpoint | None, str]:
    try:
        return parse_receipt(Path(receipt_file).read_bytes(), trusted), ""
    except OSError as exc:
        return None, f"receipt {receipt_file} cannot be read ({exc.strerror})"
    except AuditIntegrityError as exc:
        return None, str(exc)


@audit.command("verify")
@click.option(
    "--receipt",
    "receipt_files",
    multiple=True,
    metavar="FILE",
    help="A receipt from `verp audit receipt`: the log must still extend it (repeatable).",
)
@click.option(
    "--public-key",
    "public_key_file",
    default=None,
    metavar="PEM",
    help="Check checkpoints and receipts with this public key instead of the server's.",
)
@json_option
def audit_verify(
    receipt_files: tuple[str, ...], public_key_file: str | None, as_json: bool
) -> None:
    """Check the whole hash chain, every checkpoint and each receipt; exit status 1 names the
    first problem. A good log is checkpointed afterwards."""
    with services() as svc:
        trusted = _trusted_key(svc, public_key_file)
        receipts: list[Checkpoint] = []
        bad_receipt = ""
        for name in receipt_files:
            receipt, bad_receipt = _receipt_problem(name, trusted)
            if receipt is None:
                break
            receipts.append(receipt)
        checkpoints = svc.audit.checkpoints
        if checkpoints is not None and public_key_file is not None:
            checkpoints = Checkpoints(checkpoints.store, trusted)  # verify only
        with svc.db.session() as session:
            result = verify_chain(session, svc.audit.key, checkpoints, receipts=receipts)
        if bad_receipt:
            result.fail(None, bad_receipt)
        if result.ok:
            with svc.db.session() as session:
                svc.audit.append(
                    session,
                    CLI_ACTOR,
                    "audit.verify",
                    details={"entries": result.entries, "receipts": len(receipts)},
                )
            with svc.db.session() as session:
                svc.audit.checkpoint_head(session, svc.clock.now())
    text = (
        f"audit log OK: {result.entries} entries, head #{result.head_seq}, "
        f"{result.checkpoints} checkpoint(s) and {result.receipts} receipt(s) checked"
        if result.ok
        else f"audit log FAILED at entry #{result.first_bad_seq}: {result.problem}"
        if result.first_bad_seq is not None
        else f"audit log FAILED: {result.problem}"
    )
    emit(result.as_dict(), as_json, text=text)
    if not result.ok:
        sys.exit(1)


@audit.command("receipt")
@click.option("--output", "-o", required=True, help="Write the receipt to this file.")
def audit_receipt(output: str) -> None:
    """Checkpoint the chain head now and write a signed receipt of it. Keep the receipt
    away from the server: `verp audit verify --receipt FILE` later proves the log was not
    cut back or rewritten before it."""
    with services() as svc, svc.db.session() as session:
        data = issue_receipt(session, svc.audit, CLI_ACTOR, svc.clock.now())
    write_private_file(Path(output), data)
    click.echo(f"receipt written to {output}")


@audit.command("public-key")
@click.option("--output", "-o", default=None, help="Write the PEM to this file.")
@json_option
def audit_public_key(output: str | None, as_json: bool) -> None:
    """The public key that checks checkpoints and receipts (it cannot sign or forge)."""
    with services() as svc:
        key = _trusted_key(svc, None)
    if output is not None:
        Path(output).write_bytes(key.pem())
    data = {"key_id": key.key_id, "public_key": key.raw.hex(), "pem": key.pem().decode()}
    emit(data, as_json, text=key.pem().decode().rstrip("\n") + f"\nkey id: {key.key_id}")


@audit.command("export")
@click.option("--site", "site_slug", required=True, help="Site slug.")
@click.option("--since", default=None, metavar="ISO8601", help="Entries at or after this time.")
@click.option("--until", default=None, metavar="ISO8601", help="Entries before this time.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv")
@click.option("--output", "-o", default=None, help="Write to this file (mode 0600).")
def audit_export(
    site_slug: str, since: str | None, until: str | None, fmt: str, output: str | None
) -> None:
    """Export a site's audit entries (ids only, with their chain hashes) for a DPO."""
    start = _parse_time(since, "--since") if since else None
    end = _parse_time(until, "--until") if until else None
    buffer = io.StringIO()
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        count = export_entries(session, buffer, site_id=site.id, fmt=fmt, since=start, until=end)
        svc.audit.append(
            session,
            CLI_ACTOR,
            "audit.export",
            target_type="site",
            target_id=site.id,
            site_id=site.id,
            details={"format": fmt, "entries": count},
        )
    _write_output(buffer.getvalue(), output)


def register(cli: click.Group) -> None:
    cli.add_command(audit)

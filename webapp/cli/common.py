"""Shared CLI plumbing: settings, services, JSON output and error mapping."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from config import Settings, SettingsError, load_settings
from storage.audit import Actor
from storage.errors import StorageError
from webapp.composition import Services, build_services

CLI_ACTOR = Actor.system("cli")


def settings() -> Settings:
    return load_settings()


@contextmanager
def services() -> Iterator[Services]:
    svc = build_services(settings())
    try:
        yield svc
    finally:
        svc.close()


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, or ``text`` (default: a key: value listing)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str, sort_keys=True))
    elif text is not None:
        click.echo(text)
    elif isinstance(data, dict):
        for key, value in data.items():
            click.echo(f"{key}: {value}")
    else:
        click.echo(str(data))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def run_cli(group: click.Group) -> None:
    """Run the CLI, mapping domain errors to a message and exit status 1 (2 for settings)."""
    try:
        group.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SettingsError as exc:
        click.echo(f"verp: invalid setting: {exc}", err=True)
        sys.exit(2)
    except StorageError as exc:
        click.echo(f"verp: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        # Domain errors of ingest/review also end up here; keep the message, not a trace.
        if type(exc).__module__.split(".")[0] in {"ingest", "review"}:
            click.echo(f"verp: {exc}", err=True)
            sys.exit(1)
        raise

"""The `verp` command line. Each command group lives in its own module and is
registered here; all of them build services through webapp.composition.

No ``from __future__ import annotations`` here: it would bind the name ``annotations``
in this package and shadow the ``webapp.cli.annotations`` submodule imported below."""

import click

from webapp.cli import (
    accounts,
    audit,
    casework,
    clips,
    governance,
    keys,
    programme,
    reports,
    setup,
    web,
    worker,
)
from webapp.cli import annotations as annotations_cli
from webapp.cli.common import run_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """verp: secure video-enhanced reflective practice.

    Settings come from config/default.toml and VERP_* environment variables
    (see the README's configuration table).
    """


for module in (
    setup,
    accounts,
    keys,
    governance,
    audit,
    annotations_cli,
    clips,
    programme,
    casework,
    reports,
    worker,
    web,
):
    module.register(cli)


def main() -> None:
    """Console-script entry point."""
    run_cli(cli)

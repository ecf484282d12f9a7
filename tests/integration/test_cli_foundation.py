"""The real `verp` console script, run as a subprocess against a temporary VERP_HOME."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from webapp.cli import cli

VERP = Path(sys.executable).with_name("verp")
PASSWORD = "a long enough password"


class Verp:
    """Runs `verp` with a clean VERP_* environment pointing at one home and database."""

    def __init__(self, home: Path, db_url: str | None = None) -> None:
        self.home = home
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
        env["VERP_HOME"] = str(home)
        if db_url is not None:
            env["VERP_DATABASE_URL"] = db_url
        self.env = env

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VERP), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
        )

    def ok(self, *args: str, input: str | None = None) -> Any:
        """Run a --json command that must succeed; returns its parsed output."""
        done = self.run(*args, "--json", input=input)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def verp(tmp_path: Path, db_url: str) -> Verp:
    return Verp(tmp_path / "home", db_url)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_console_script_is_installed() -> None:
    assert VERP.exists(), "run `pip install -e .` so the `verp` script exists"


def test_init_twice_is_idempotent_and_keys_are_private(verp: Verp) -> None:
    first = verp.ok("init")
    assert len(first["created"]) == 4  # KEK file, audit key, audit signing key, web secret
    names = ("kek.json", "audit.key", "audit-signing.pem", "web.key")
    secrets = [verp.home / "keys" / name for name in names]
    for path in secrets:
        assert mode(path) == 0o600, path
    assert mode(verp.home) == 0o700
    assert mode(verp.home / "keys") == 0o700
    contents = [p.read_bytes() for p in secrets]

    second = verp.ok("init")
    assert second["created"] == []
    assert second["schema"] == first["schema"]
    assert [p.read_bytes() for p in secrets] == contents


def test_sites_and_users_round_trip(verp: Verp) -> None:
    verp.ok("init")
    site = verp.ok("sites", "add", "north", "--name", "North Team")
    assert (site["slug"], site["name"]) == ("north", "North Team")
    done = verp.run(
        "users", "add", "Ana@Example.org", "--site", "north", "--role", "supervisor",
        "--password-stdin", "--json", input=PASSWORD + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    listed = verp.ok("users", "list")
    assert [(u["email"], u["role"], u["site"], u["active"]) for u in listed] == [
        ("ana@example.org", "supervisor", "north", True)
    ]
    assert verp.ok("users", "list", "--site", "elsewhere") == []


BAD_USERS = [
    (["bob@example.org", "--role", "wizard", "--site", "north"], PASSWORD, "wizard"),
    (["not-an-email", "--role", "facilitator", "--site", "north"], PASSWORD, "not an email"),
    (["bob@example.org", "--role", "facilitator", "--site", "north"], "short", "at least 10"),
    (["bob@example.org", "--role", "dpo", "--site", "nowhere"], PASSWORD, "nowhere"),
]


def test_bad_user_input_fails_clearly_and_stores_nothing(verp: Verp) -> None:
    verp.ok("init")
    verp.ok("sites", "add", "north")
    for args, password, message in BAD_USERS:
        done = verp.run("users", "add", *args, "--password-stdin", input=password + "\n")
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert password not in done.stdout + done.stderr
    assert verp.ok("users", "list") == []


def test_keys_status_and_rotate(verp: Verp) -> None:
    verp.ok("init")
    status = verp.ok("keys", "status")
    assert (status["provider"], status["current_version"]) == ("local", "1")
    assert status["rotation_incomplete"] is False
    report = verp.ok("keys", "rotate")  # the old KEK is kept for the grace period
    assert (report["added_version"], report["retired"], report["in_grace"]) == ("2", [], ["1"])
    assert verp.ok("keys", "status")["rotation_incomplete"] is True
    report = verp.ok("keys", "rotate", "--retire-now")
    assert (report["added_version"], report["retired"]) == (None, ["1"])
    status = verp.ok("keys", "status")
    assert (status["current_version"], status["kek_versions"]) == ("2", ["2"])
    assert mode(verp.home / "keys" / "kek.json") == 0o600
    text = verp.run("keys", "status")
    assert "current version: 2" in text.stdout
    epochs = verp.ok("keys", "epochs")
    assert [(e["number"], e["state"], e["kek_version"]) for e in epochs] == [
        (1, "destroyed", "1"),
        (2, "current", "2"),
    ]
    assert "epoch 2 [current]" in verp.run("keys", "epochs").stdout


def test_invalid_setting_exits_2_naming_it(tmp_path: Path) -> None:
    verp = Verp(tmp_path / "home")
    done = verp.run("init", env={"VERP_PORT": "eighty"})
    assert done.returncode == 2
    assert "VERP_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert not verp.home.exists(), "nothing may be created with invalid settings"
    done = verp.run("sites", "add", "north", env={"VERP_KEY_PROVIDER": "kms"})
    assert done.returncode == 2
    assert "VERP_KMS_KEY_ID" in done.stderr


def test_top_level_help_lists_every_command(tmp_path: Path) -> None:
    done = Verp(tmp_path / "home").run("--help")
    assert done.returncode == 0, done.stderr
    for name in cli.commands:
        assert name in done.stdout
    assert not (tmp_path / "home").exists(), "--help must not initialise anything"


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_help_works_for_every_command(path: tuple[str, ...], tmp_path: Path) -> None:
    # In-process (one subprocess per command would cost a second each); the entry point
    # itself is covered by the subprocess tests above.
    result = CliRunner().invoke(cli, [*path, "--help"], env={"VERP_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert not (tmp_path / "home").exists()

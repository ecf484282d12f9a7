"""The dependency rules of DESIGN.md, enforced by parsing every source file's imports.

- webapp -> ingest, review -> storage -> config, never backwards;
- storage, ingest and review never import Flask (or Werkzeug);
- config imports nothing of ours;
- only named adapter modules import vendor SDKs (boto3/botocore, cv2, ffmpeg);
- only config reads the environment.

Adding an adapter? Add its path to ADAPTERS below, next to the SDK it wraps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "storage", "ingest", "review", "webapp")
WEB = {"flask", "flask_wtf", "werkzeug"}

#: package -> top-level modules it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "config": {"storage", "ingest", "review", "webapp"} | WEB,
    "storage": {"ingest", "review", "webapp"} | WEB,
    "ingest": {"webapp"} | WEB,
    "review": {"webapp"} | WEB,
}

#: vendor SDK -> the only modules allowed to import it (the single error boundary).
ADAPTERS: dict[str, set[str]] = {
    "boto3": {"storage/s3.py", "storage/kms.py", "storage/audit/s3_checkpoints.py"},
    "botocore": {"storage/s3.py", "storage/kms.py", "storage/audit/s3_checkpoints.py"},
    "cv2": {"ingest/thumbnails.py"},
    "ffmpeg": {"ingest/transcode.py"},
    "imageio_ffmpeg": {"ingest/ffmpeg_binary.py"},
}

ENV_ATTRS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
OS_MODULES = {"os", "posix", "nt"}


def source_files() -> list[str]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files.append(path.relative_to(ROOT).as_posix())
    return files


def _module_of(rel_path: str) -> list[str]:
    parts = rel_path.removesuffix(".py").split("/")
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(rel_path: str, tree: ast.AST) -> set[str]:
    """Every module an AST imports, anywhere (also inside functions), made absolute."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _module_of(rel_path)
                if not rel_path.endswith("__init__.py"):
                    package = package[:-1]
                base = package[: len(package) - (node.level - 1)]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
    return found


def _touches_environment(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return (
            node.attr in ENV_ATTRS
            and isinstance(node.value, ast.Name)
            and node.value.id in OS_MODULES
        )
    if isinstance(node, ast.ImportFrom):
        return node.module in OS_MODULES and any(a.name in ENV_ATTRS for a in node.names)
    return False


def reads_environment(tree: ast.AST) -> list[int]:
    """Line numbers where code touches ``os.environ``/``os.getenv`` and friends."""
    return [getattr(node, "lineno", 0) for node in ast.walk(tree) if _touches_environment(node)]


def violations(rel_path: str, source: str) -> list[str]:
    """Every broken rule in one file, as readable messages."""
    tree = ast.parse(source, filename=rel_path)
    package = rel_path.split("/", 1)[0]
    found = []
    for module in sorted(imported_modules(rel_path, tree)):
        top = module.split(".", 1)[0]
        if top in FORBIDDEN.get(package, set()):
            found.append(f"{rel_path}: {package} must not import {module}")
        if top in ADAPTERS and rel_path not in ADAPTERS[top]:
            found.append(f"{rel_path}: only {sorted(ADAPTERS[top])} may import {top}")
    if package != "config":
        found.extend(
            f"{rel_path}:{line}: only config/ may read the environment"
            for line in reads_environment(tree)
        )
    return found


def test_the_tree_has_the_packages() -> None:
    files = source_files()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in files


@pytest.mark.parametrize("rel_path", source_files())
def test_source_file_follows_the_dependency_rules(rel_path: str) -> None:
    source = (ROOT / rel_path).read_text(encoding="utf-8")
    assert violations(rel_path, source) == []


def test_no_environment_access_outside_config_by_text() -> None:
    # Belt and braces for aliasing the AST check cannot see (e.g. `import os as o`).
    offenders = []
    for rel_path in source_files():
        if rel_path.startswith("config/"):
            continue
        for number, line in enumerate((ROOT / rel_path).read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if ".environ" in code or "getenv(" in code:
                offenders.append(f"{rel_path}:{number}")
    assert offenders == []


# -- the checker itself must be able to fail ------------------------------------------


@pytest.mark.parametrize(
    ("rel_path", "source", "expected"),
    [
        ("storage/x.py", "def f():\n    import flask\n", "storage must not import flask"),
        ("storage/x.py", "from webapp.composition import Services\n", "must not import webapp"),
        ("storage/x.py", "from ingest import probe\n", "must not import ingest"),
        ("review/x.py", "from werkzeug.utils import secure_filename\n", "must not import"),
        ("ingest/x.py", "from ..webapp import app\n", "must not import webapp"),
        ("config/x.py", "from storage.keys import KeyContext\n", "config must not import"),
        ("storage/vault.py", "import boto3\n", "may import boto3"),
        ("webapp/x.py", "from botocore.exceptions import ClientError\n", "may import botocore"),
        ("review/x.py", "import cv2\n", "may import cv2"),
        ("storage/x.py", "import os\nA = os.environ.get('A')\n", "read the environment"),
        ("webapp/x.py", "import os\nA = os.getenv('A')\n", "read the environment"),
        ("ingest/x.py", "from os import environ\n", "read the environment"),
    ],
)
def test_checker_flags_violations(rel_path: str, source: str, expected: str) -> None:
    found = violations(rel_path, source)
    assert len(found) == 1, found
    assert expected in found[0]


@pytest.mark.parametrize(
    ("rel_path", "source"),
    [
        ("webapp/x.py", "import flask\nfrom storage.vault import Vault\nfrom ingest import a\n"),
        ("storage/s3.py", "import boto3\nfrom botocore.config import Config\n"),
        ("config/settings.py", "import os\nE = os.environ\n"),
        ("storage/x.py", "from . import keys\nfrom .db import base\n"),
    ],
)
def test_checker_allows_permitted_imports(rel_path: str, source: str) -> None:
    assert violations(rel_path, source) == []

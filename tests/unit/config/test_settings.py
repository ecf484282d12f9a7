"""Settings: defaults under VERP_HOME, every VERP_* override, validation, immutability."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from config import ENV_MAP, Settings, SettingsError, load_settings
from config.settings import _defaults

Check = Callable[[Settings], bool]

RETENTION_TOML = """\
[retention]
max_days = 400

[retention.kinds.home-visit]
from = "upload"
margin_days = 7
max_days = 100
"""


def samples(tmp: Path) -> dict[str, tuple[str, Check, dict[str, str]]]:
    """An override value per variable, how to see it in Settings, and extra env it needs."""
    retention = tmp / "retention.toml"
    retention.write_text(RETENTION_TOML)
    pg = "postgresql+psycopg://verp@db.internal:5432/verp"
    return {
        "VERP_HOME": ("/srv/verp", lambda s: s.home == Path("/srv/verp"), {}),
        "VERP_DATABASE_URL": (pg, lambda s: s.database_url == pg, {}),
        "VERP_BLOB_URL": ("s3://clips/verp", lambda s: s.blob_url == "s3://clips/verp", {}),
        "VERP_S3_ENDPOINT_URL": (
            "http://minio:9000",
            lambda s: s.s3_endpoint_url == "http://minio:9000",
            {},
        ),
        "VERP_KEY_PROVIDER": (
            "kms",
            lambda s: s.key_provider == "kms",
            {"VERP_KMS_KEY_ID": "alias/verp"},
        ),
        "VERP_KEY_FILE": (
            "/etc/verp/kek.json",
            lambda s: s.key_file == Path("/etc/verp/kek.json"),
            {},
        ),
        "VERP_KMS_KEY_ID": ("alias/verp", lambda s: s.kms_key_id == "alias/verp", {}),
        "VERP_KMS_ENDPOINT_URL": (
            "http://kms:4566",
            lambda s: s.kms_endpoint_url == "http://kms:4566",
            {},
        ),
        "VERP_AWS_REGION": ("eu-central-1", lambda s: s.aws_region == "eu-central-1", {}),
        "VERP_SEGMENT_SIZE": ("65536", lambda s: s.segment_size == 65536, {}),
        "VERP_SHARE_RECEIVING_SITES": (
            "national, North-East,national",
            lambda s: s.share_receiving_sites == ("national", "north-east"),
            {},
        ),
        "VERP_BLOB_READ_CACHE_MIB": (
            "0",
            lambda s: s.blob_read_cache_bytes == 0,
            {},
        ),
        "VERP_QUEUE_URL": (
            "redis://127.0.0.1:6379/3",
            lambda s: s.queue_url == "redis://127.0.0.1:6379/3",
            {},
        ),
        "VERP_WORKSPACE": ("/scratch/ws", lambda s: s.workspace_dir == Path("/scratch/ws"), {}),
        "VERP_MAX_UPLOAD_MIB": ("10", lambda s: s.max_upload_bytes == 10 * 1024 * 1024, {}),
        "VERP_VIDEO_PRESET": ("medium", lambda s: s.video_preset == "medium", {}),
        "VERP_AUDIT_KEY_FILE": ("/k/audit", lambda s: s.audit_key_file == Path("/k/audit"), {}),
        "VERP_AUDIT_SIGNING_KEY_FILE": (
            "/k/sign.pem",
            lambda s: s.audit_signing_key_file == Path("/k/sign.pem"),
            {},
        ),
        "VERP_AUDIT_CHECKPOINT_DIR": (
            "/k/cp",
            lambda s: s.audit_checkpoint_dir == Path("/k/cp"),
            {},
        ),
        "VERP_SECRET_KEY_FILE": ("/k/web", lambda s: s.secret_key_file == Path("/k/web"), {}),
        "VERP_HOST": ("0.0.0.0", lambda s: s.host == "0.0.0.0", {}),
        "VERP_PORT": ("9443", lambda s: s.port == 9443, {}),
        "VERP_SECURE_COOKIES": ("no", lambda s: s.secure_cookies is False, {}),
        "VERP_SESSION_MINUTES": ("5", lambda s: s.session_minutes == 5, {}),
        "VERP_TOTP_REQUIRED": ("on", lambda s: s.totp_required is True, {}),
        "VERP_TAXONOMY_DIR": ("/srv/tax", lambda s: s.taxonomy_dir == Path("/srv/tax"), {}),
        "VERP_QUEUE_LEASE_SECONDS": ("90", lambda s: s.queue_lease_seconds == 90, {}),
        "VERP_AUDIT_CHECKPOINT_URL": (
            "s3://audit/cp",
            lambda s: s.audit_checkpoint_url == "s3://audit/cp",
            {},
        ),
        "VERP_PROXY_HOPS": ("1", lambda s: s.proxy_hops == 1, {}),
        "VERP_RETENTION_FILE": (
            str(retention),
            lambda s: set(s.retention["kinds"]) == {"home-visit"},
            {},
        ),
    }


def generic_value(dotted: str) -> str:
    """A different but valid-looking value for a variable without an explicit sample."""
    section, key = dotted.split(".", 1)
    default = _defaults()[section][key]
    if isinstance(default, bool):
        return "false" if default else "true"
    if isinstance(default, int):
        return str(default + 1)
    if isinstance(default, float):
        return str(default * 2 or 1.5)
    if key.endswith("url"):
        return "s3://override/verp"
    return f"/override/{key}"


@pytest.mark.parametrize("var", sorted(ENV_MAP))
def test_every_variable_overrides_its_setting(var: str, tmp_path: Path) -> None:
    table = samples(tmp_path)
    base = {"VERP_HOME": str(tmp_path / "home")}
    default = load_settings(environ=base)
    if var in table:
        value, check, extra = table[var]
        loaded = load_settings(environ={**base, **extra, var: value})
        assert check(loaded), f"{var}={value!r} did not reach Settings"
    else:
        # A variable added without a sample here: at least it must change something.
        value = generic_value(ENV_MAP[var])
        loaded = load_settings(environ={**base, var: value})
    assert dataclasses.asdict(loaded) != dataclasses.asdict(default)


def test_defaults_resolve_under_verp_home(tmp_path: Path) -> None:
    s = load_settings(environ={"VERP_HOME": str(tmp_path)})
    assert s.home == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path / 'verp.db'}"
    assert s.uses_sqlite
    assert s.blob_url == f"file://{tmp_path / 'blobs'}"
    assert s.queue_url == f"sqlite:///{tmp_path / 'queue.db'}"
    for path in (
        s.key_file,
        s.audit_key_file,
        s.audit_signing_key_file,
        s.secret_key_file,
        s.workspace_dir,
        s.audit_checkpoint_dir,
    ):
        assert path.is_relative_to(tmp_path), path
    assert s.key_provider == "local"
    assert s.secure_cookies is True
    assert s.multipart_threshold == 16 * 1024 * 1024


def test_relative_home_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"VERP_HOME": "data"})
    assert s.home == tmp_path / "data"
    assert s.home.is_absolute()


def test_environment_beats_defaults_and_overrides_beat_environment(tmp_path: Path) -> None:
    env = {"VERP_HOME": str(tmp_path), "VERP_PORT": "9000"}
    assert load_settings(environ=env).port == 9000
    assert load_settings(environ=env, overrides={"web.port": 9100}).port == 9100


def test_unrelated_variables_are_ignored(tmp_path: Path) -> None:
    env = {"VERP_HOME": str(tmp_path), "VERP_NOT_A_SETTING": "x", "PORT": "1"}
    assert load_settings(environ=env).port == 8000


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VERP_PORT": "eighty"}, "VERP_PORT"),
        ({"VERP_PORT": "70000"}, "web.port"),
        ({"VERP_PORT": "0"}, "web.port"),
        ({"VERP_SEGMENT_SIZE": "12.5"}, "VERP_SEGMENT_SIZE"),
        ({"VERP_SEGMENT_SIZE": "100"}, "container.segment_size"),
        ({"VERP_MAX_UPLOAD_MIB": "-1"}, "ingest.max_size_mib"),
        ({"VERP_SECURE_COOKIES": "maybe"}, "VERP_SECURE_COOKIES"),
        ({"VERP_TOTP_REQUIRED": ""}, "VERP_TOTP_REQUIRED"),
        ({"VERP_KEY_PROVIDER": "vault"}, "keys.provider"),
        ({"VERP_KEY_PROVIDER": "kms"}, "VERP_KMS_KEY_ID"),
        ({"VERP_DATABASE_URL": "mysql://root@db/verp"}, "VERP_DATABASE_URL"),
        ({"VERP_BLOB_URL": "ftp://files/verp"}, "VERP_BLOB_URL"),
        ({"VERP_QUEUE_URL": "amqp://rabbit"}, "VERP_QUEUE_URL"),
        ({"VERP_RETENTION_FILE": "/nonexistent/retention.toml"}, "VERP_RETENTION_FILE"),
    ],
)
def test_invalid_values_stop_with_the_setting_named(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ={"VERP_HOME": str(tmp_path), **env})


def test_database_url_error_does_not_echo_credentials(tmp_path: Path) -> None:
    url = "mysql://admin:hunter2-secret@db/verp"
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"VERP_HOME": str(tmp_path), "VERP_DATABASE_URL": url})
    assert "hunter2" not in str(info.value)


def test_loading_does_not_touch_the_filesystem(tmp_path: Path) -> None:
    load_settings(environ={"VERP_HOME": str(tmp_path / "home")})
    assert not (tmp_path / "home").exists()


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(environ={"VERP_HOME": str(tmp_path)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.key_provider = "kms"  # type: ignore[misc]


@pytest.mark.parametrize("value", ["a b", "north/east", "x,,y;z"])
def test_a_receiving_site_must_be_a_slug(value: str, tmp_path: Path) -> None:
    base = {"VERP_HOME": str(tmp_path / "home")}
    with pytest.raises(SettingsError, match=r"sharing\.receiving_sites"):
        load_settings(environ={**base, "VERP_SHARE_RECEIVING_SITES": value})


def test_no_receiving_sites_by_default(tmp_path: Path) -> None:
    settings = load_settings(environ={"VERP_HOME": str(tmp_path / "home")})
    assert settings.share_receiving_sites == ()
    empty = load_settings(environ={"VERP_HOME": str(tmp_path), "VERP_SHARE_RECEIVING_SITES": ""})
    assert empty.share_receiving_sites == ()

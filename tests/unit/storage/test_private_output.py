"""PrivateOutput: nothing readable under any name until publish; never overwrites;
the partial-file fallback is removed on every exit path and swept after SIGKILL."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storage.errors import ValidationError
from storage.private_output import PARTIAL_PREFIX, PrivateOutput, sweep_partials

DATA = b"\x00\x00\x00\x18ftypmp42" + os.urandom(100_000)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "home" / "partials"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "partial"])
def test_published_file_is_complete_and_private(
    out_dir: Path, registry: Path, unnamed: bool
) -> None:
    target = out_dir / "visit.mp4"
    previous = os.umask(0o022)  # what a careless shell leaves; the file must still be 0600
    try:
        with PrivateOutput(target, partials=registry, unnamed=unnamed) as out:
            assert out.unnamed is unnamed
            out.write(DATA)
            out.publish()
    finally:
        os.umask(previous)
    assert target.read_bytes() == DATA
    assert _mode(target) == 0o600
    assert sorted(p.name for p in out_dir.iterdir()) == ["visit.mp4"]
    assert not registry.exists() or not any(registry.iterdir())


def test_the_unnamed_file_has_no_name_until_published(out_dir: Path, registry: Path) -> None:
    with PrivateOutput(out_dir / "visit.mp4", partials=registry) as out:
        assert out.unnamed, "this machine's file system supports O_TMPFILE"
        out.write(DATA)
        assert list(out_dir.iterdir()) == []
        out.publish()
    assert [p.name for p in out_dir.iterdir()] == ["visit.mp4"]


def test_the_partial_file_is_private_and_registered_while_written(
    out_dir: Path, registry: Path
) -> None:
    with PrivateOutput(out_dir / "visit.mp4", partials=registry, unnamed=False) as out:
        out.write(DATA)
        (partial,) = out_dir.iterdir()
        assert partial.name.startswith(PARTIAL_PREFIX) and _mode(partial) == 0o600
        (entry,) = registry.iterdir()
        assert entry.read_bytes() == os.fsencode(str(partial))
        assert _mode(registry) == 0o700
        assert sweep_partials(registry) == [], "a live writer's file is not swept"
        assert partial.exists()
        out.publish()
    assert [p.name for p in out_dir.iterdir()] == ["visit.mp4"]
    assert list(registry.iterdir()) == []


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "partial"])
def test_an_error_before_publish_leaves_nothing(
    out_dir: Path, registry: Path, unnamed: bool
) -> None:
    with (
        pytest.raises(RuntimeError),
        PrivateOutput(out_dir / "visit.mp4", partials=registry, unnamed=unnamed) as out,
    ):
        out.write(DATA)
        raise RuntimeError("decryption stopped")
    assert list(out_dir.iterdir()) == []
    assert not registry.exists() or list(registry.iterdir()) == []


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "partial"])
def test_an_existing_file_is_never_overwritten(
    out_dir: Path, registry: Path, unnamed: bool
) -> None:
    target = out_dir / "visit.mp4"
    target.write_bytes(b"keep me")
    with pytest.raises(ValidationError, match="exists"):
        PrivateOutput(target, partials=registry, unnamed=unnamed)
    target.unlink()
    with PrivateOutput(target, partials=registry, unnamed=unnamed) as out:
        out.write(DATA)
        target.write_bytes(b"keep me")  # appears while the export runs
        with pytest.raises(ValidationError, match="exists"):
            out.publish()
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in out_dir.iterdir()] == ["visit.mp4"]
    with pytest.raises(ValidationError, match="not an existing folder"):
        PrivateOutput(out_dir / "missing" / "visit.mp4", partials=registry, unnamed=unnamed)
    symlink = out_dir / "link.mp4"
    symlink.symlink_to(out_dir / "nowhere")
    with pytest.raises(ValidationError, match="exists"):
        PrivateOutput(symlink, partials=registry, unnamed=unnamed)


def test_without_linkable_unnamed_files_it_falls_back(
    out_dir: Path, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link

    def no_proc_links(src: object, dst: object, **kwargs: object) -> None:
        if str(src).startswith("/proc/"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", no_proc_links)  # the module uses os.link
    with PrivateOutput(out_dir / "visit.mp4", partials=registry) as out:
        assert not out.unnamed
        out.write(DATA)
        out.publish()
    assert (out_dir / "visit.mp4").read_bytes() == DATA
    assert [p.name for p in out_dir.iterdir()] == ["visit.mp4"], "the probe left nothing"


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from storage.private_output import PrivateOutput
    out = PrivateOutput(Path(sys.argv[1]), partials=Path(sys.argv[2]), unnamed=sys.argv[3] == "1")
    out.write(b"\\x00\\x00\\x00\\x18ftypmp42" + bytes(200_000))
    print("written", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "partial"])
def test_sigkill_leaves_nothing_or_a_partial_the_next_sweep_removes(
    out_dir: Path, registry: Path, unnamed: bool
) -> None:
    root = Path(__file__).resolve().parents[3]
    target = out_dir / "visit.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target), str(registry), "1" if unnamed else "0"],
        cwd=root,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = list(out_dir.iterdir())
    if unnamed:
        assert left == []
        assert sweep_partials(registry) == []
        return
    (partial,) = left
    assert partial.name.startswith(PARTIAL_PREFIX) and _mode(partial) == 0o600
    assert sweep_partials(registry) == [str(partial)]
    assert list(out_dir.iterdir()) == [] and list(registry.iterdir()) == []


def test_the_sweep_removes_only_partial_files_of_ours(tmp_path: Path, registry: Path) -> None:
    registry.mkdir(parents=True, mode=0o700)
    precious = tmp_path / "report.pdf"
    precious.write_bytes(b"not ours to delete")
    (registry / "a.partial").write_bytes(os.fsencode(str(precious)))
    relative = registry / "b.partial"
    relative.write_bytes(PARTIAL_PREFIX.encode() + b"x")  # not absolute
    stale = registry / ".new-abc"
    stale.write_bytes(b"")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = registry / ".new-def"
    fresh.write_bytes(b"")
    assert sweep_partials(registry) == []
    assert precious.read_bytes() == b"not ours to delete"
    assert sorted(p.name for p in registry.iterdir()) == [".new-def"]

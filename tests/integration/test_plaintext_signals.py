"""No plaintext outlives its process: real `verp clips export` killed with SIGKILL, and
real `verp ingest --wait` stopped with SIGTERM or SIGINT, at several points.

After each stop, every file under VERP_HOME, TMPDIR and the export directory is read:
none may carry footage (MP4 ``ftyp`` / JPEG ``FF D8 FF`` magic, or bytes of the
source), every blob must be a container, and nothing else may be there but the
database, queue, key, audit and lock files verp keeps. No job workspace may be left,
and the clip must be where the next worker resumes it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Settings, load_settings
from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from tests import media
from tests.unit.ingest.staging import CONSENT, blobs_of, clip_row, stage_clip
from webapp.composition import Services, build_services, initialize

VERP = Path(sys.executable).with_name("verp")
EXPORT_MIB = 192
pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmpdir").mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
    return {
        **clean,
        "VERP_HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmpdir"),
        "VERP_QUEUE_LEASE_SECONDS": "30",
        "VERP_VIDEO_PRESET": "veryslow",  # slow enough on tiny media to be caught
    }


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    settings: Settings = load_settings(environ=env)
    initialize(settings)
    svc = build_services(settings)
    try:
        yield svc
    finally:
        svc.close()


# -- what may be on disk ------------------------------------------------------------------

_SQLITE_HEADER = b"SQLite format 3\x00"
_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def _footage(data: bytes, markers: list[bytes]) -> str | None:
    if data[4:8] == b"ftyp" or data[:3] == b"\xff\xd8\xff":
        return "footage magic at the start"
    if any(m in data for m in (b"ftypisom", b"ftypmp42", b"JFIF\x00", *markers)):
        return "footage bytes inside"
    return None


def _kept_by_verp(path: Path, data: bytes, home: Path) -> bool:
    """The files verp keeps beside its ciphertext (none of them holds footage)."""
    name, rel = path.name, path.relative_to(home).parts if home in path.parents else ()
    if name in ("verp.db", "queue.db"):
        return data[:16] == _SQLITE_HEADER or not data
    if name.endswith("-wal"):
        return data[:4] in _WAL_MAGIC or not data
    if name.endswith("-shm") or name == ".lock":
        return True
    return bool(rel) and rel[0] in ("keys", "audit-checkpoints", "partials")


def offending_files(roots: list[Path], home: Path, markers: list[bytes]) -> list[str]:
    """Every file under ``roots`` that holds footage or is not verp's own."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if (home / "blobs") in path.parents:
                if data[:4] != b"VERP" or data[4] != 1:
                    found.append(f"{path}: a blob that is not a container")
                continue
            reason = _footage(data, markers)
            if reason is None and not _kept_by_verp(path, data, home):
                reason = "not ciphertext and not a file verp keeps"
            if reason:
                found.append(f"{path}: {reason}")
    return found


def job_dirs(settings: Settings) -> list[Path]:
    root = settings.workspace_dir
    return list(root.iterdir()) if root.exists() else []


def processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_private_modes(settings: Settings) -> None:
    home = settings.home
    for name in ("verp.db", "verp.db-wal", "verp.db-shm", "queue.db"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


# -- exports ------------------------------------------------------------------------------


def _ready_clip_with_large_playback(services: Services) -> tuple[str, bytes]:
    clip_id = stage_clip(services, b"staged upload")
    head = b"\x00\x00\x00\x20ftypisom" + os.urandom(4096)
    plaintext = head + os.urandom(EXPORT_MIB * 1024 * 1024)
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        services.vault.put_file(
            session, clip.site_id, clip_id, "playback", io.BytesIO(plaintext), "video/mp4"
        )
        clip.status, clip.stage, clip.progress = "ready", "ready", 100
    return clip_id, plaintext


def _unnamed_fd_open(pid: int, directory: Path) -> bool:
    """Whether ``pid`` holds an unnamed (O_TMPFILE) file in ``directory``: its export
    is being written."""
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(link.startswith(f"{directory}/") and link.endswith("(deleted)") for link in links)


def _exports(services: Services, clip_id: str) -> int:
    with services.db.session() as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "clip.export", AuditEntry.target_id == clip_id
            )
        )
        return len(list(rows))


@pytest.mark.parametrize("delay_ms", [0, 40, 120, 300])
def test_sigkill_of_an_export_leaves_no_plaintext(
    services: Services, env: dict[str, str], tmp_path: Path, delay_ms: int
) -> None:
    clip_id, plaintext = _ready_clip_with_large_playback(services)
    markers = [plaintext[5000:5064], plaintext[-64:]]
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    target = out_dir / "visit.mp4"
    roots = [services.settings.home, tmp_path / "tmpdir", out_dir]
    cmd = [str(VERP), "clips", "export", clip_id, "--out", str(target)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for("the export to start writing", lambda: _unnamed_fd_open(proc.pid, out_dir))
        time.sleep(delay_ms / 1000)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(out_dir.iterdir()) == [], "nothing may have a name before it is complete"
    assert offending_files(roots, services.settings.home, markers) == []
    assert_private_modes(services.settings)

    # The next export runs to the end: complete, 0600, audited, and never overwritten.
    done = subprocess.run([*cmd, "--json"], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bytes"] == len(plaintext)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == plaintext
    audited = _exports(services, clip_id)
    assert audited >= 1
    again = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert again.returncode == 1 and b"exists" in again.stderr
    assert target.read_bytes() == plaintext
    assert _exports(services, clip_id) == audited, "a refused export is not audited"


# -- ingest --wait --------------------------------------------------------------------------


def _site(services: Services) -> None:
    from storage.accounts import create_site

    with services.db.session() as session:
        create_site(session, services.audit, Actor.system("test"), "north", "North")


def _ingest(env: dict[str, str], source: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps(CONSENT), encoding="utf-8")
    cmd = [str(VERP), "ingest", str(source), "--site", "north", "--kind", "home-visit"]
    cmd += ["--family", str(CONSENT["family"]), "--consent", str(consent), "--wait", "--json"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _the_clip(services: Services) -> Clip | None:
    with services.db.session() as session:
        return session.scalars(select(Clip)).first()


def _at_stage(services: Services, stage: str) -> Callable[[], bool]:
    def check() -> bool:
        clip = _the_clip(services)
        return clip is not None and clip.stage == stage and bool(job_dirs(services.settings))

    return check


def _stop_and_check(
    services: Services,
    proc: subprocess.Popen[bytes],
    signum: signal.Signals,
    roots: list[Path],
    markers: list[bytes],
) -> Clip:
    workspace = services.settings.workspace_dir
    for job in job_dirs(services.settings):  # plaintext in a workspace is private
        assert stat.S_IMODE(job.stat().st_mode) == 0o700
        for path in job.rglob("*"):
            want = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.stat().st_mode) == want, path
    assert_private_modes(services.settings)
    proc.send_signal(signum)
    assert proc.wait(60) == (128 + signum if signum != signal.SIGINT else 1)
    assert job_dirs(services.settings) == [], "the workspace goes with the process"
    assert not processes_using(workspace), "its ffmpeg stops with it"
    assert offending_files(roots, services.settings.home, markers) == []
    clip = _the_clip(services)
    assert clip is not None
    # Handed back, not lost: queued for the next worker, its upload intact.
    assert (clip.status, clip.claimed_by) == ("queued", None)
    assert [r for r in blobs_of(services, clip.id) if r.startswith("staging")]
    return clip


def test_sigterm_while_decrypting_leaves_no_plaintext(
    services: Services, env: dict[str, str], tmp_path: Path
) -> None:
    _site(services)
    source = media.plain_mp4(tmp_path / "visit.mp4", size="320x240", seconds=2)
    with source.open("ab") as grow:  # a long decrypt: trailing bytes ffmpeg never reads
        grow.write(os.urandom(160 * 1024 * 1024))
    markers = [source.read_bytes()[2048:2112], source.read_bytes()[-64:]]
    roots = [services.settings.home, tmp_path / "tmpdir"]
    proc = _ingest(env, source, tmp_path)
    try:
        wait_for("the decrypt", _at_stage(services, "decrypting"))
        clip = _stop_and_check(services, proc, signal.SIGTERM, roots, markers)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert clip.attempts == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_a_stop_while_transcoding_leaves_no_plaintext_and_the_clip_resumes(
    services: Services, env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    _site(services)
    source = media.plain_mp4(tmp_path / "visit.mp4", size="320x240", seconds=20)
    markers = [source.read_bytes()[2048:2112]]
    roots = [services.settings.home, tmp_path / "tmpdir"]
    proc = _ingest(env, source, tmp_path)
    try:
        wait_for("the transcode", _at_stage(services, "transcoding"))
        time.sleep(0.5)  # ffmpeg is writing the rendition
        workspace_files = [p.name for j in job_dirs(services.settings) for p in j.iterdir()]
        assert "playback.mp4" in workspace_files
        clip = _stop_and_check(services, proc, signum, roots, markers)
    finally:
        if proc.poll() is None:
            proc.kill()

    # The next worker takes the clip up at once and finishes it.
    fast = {**env, "VERP_VIDEO_PRESET": "ultrafast"}
    done = subprocess.run(
        [str(VERP), "worker", "--once", "--json"], env=fast, capture_output=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert clip_row(services, clip.id).status == "ready"
    assert job_dirs(services.settings) == []
    assert offending_files(roots, services.settings.home, markers) == []


_KILLED_FALLBACK_WRITER = """
import sys, time
from pathlib import Path
from storage.private_output import PrivateOutput
out = PrivateOutput(Path(sys.argv[1]), partials=Path(sys.argv[2]), unnamed=False)
out.write(b"\\x00\\x00\\x00\\x18ftypmp42" + bytes(100_000))
print("written", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("next_start", ["worker", "export"])
def test_a_partial_export_left_by_sigkill_is_swept_at_the_next_start(
    services: Services, env: dict[str, str], tmp_path: Path, next_start: str
) -> None:
    """Where unnamed files are unavailable, the 0600 partial file a SIGKILL leaves is
    removed when verp next starts (worker or export)."""
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    registry = services.settings.home / "partials"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_FALLBACK_WRITER, str(out_dir / "a.mp4"), str(registry)],
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
    (partial,) = out_dir.iterdir()
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    if next_start == "worker":
        cmd = [str(VERP), "worker", "--once"]
    else:  # an export that fails (no such clip) still sweeps first
        cmd = [str(VERP), "clips", "export", "no-such-clip", "--out", str(out_dir / "b.mp4")]
    subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert list(out_dir.iterdir()) == []
    assert list(registry.iterdir()) == []

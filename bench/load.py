"""Load benchmark of the scale-out stack on loopback, against nginx serving plaintext.

Starts, all on 127.0.0.1 and all as children of this process:

* a fresh database on the running PostgreSQL (``--postgres``, default the test server);
* a private huey queue name on the running Redis (``--redis``);
* a moto S3 + KMS server (a child process; a fresh bucket and KMS key);
* two ``verp serve`` web processes (gunicorn, gthread) and two ``verp worker``s on
  that database, bucket, KMS key and queue;
* nginx with its own config in the temp dir, serving the same rendition in plaintext
  (sendfile): the baseline.

A ready clip whose ``playback`` rendition is ``--size-mib`` random MiB is stored
encrypted in the bucket. Then, for ``--rounds`` rounds of at most ``--seconds`` seconds
each, ``--viewers`` threads seek (random 1 MiB Range GETs, verp then nginx for the same
range, the order alternating; every body checked against the plaintext; at most
``--max-requests`` pairs per viewer and round) while ``--coders`` threads create
annotations on the same clip. Requests alternate between the two web processes.

Prints p50/p95/p99 and error counts per round and overall, the ratios to nginx and the
load average. Everything is bounded in time; children are stopped and the schema,
queue keys and temp dir removed at the end, also on Ctrl-C or SIGTERM. Exit status 0
when the targets are met (Range p95 <= 2x nginx, no error), 1 otherwise.

The rendition is small by default (64 MiB) because moto, unlike S3, copies the whole
object for every ranged GET: its cost grows with the object, which S3's does not.

Usage: ``python bench/load.py --json`` (needs ``apt-get install -y nginx``); a quick
run: ``--size-mib 16 --viewers 2 --coders 2 --rounds 1 --seconds 5``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, Final

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

import requests  # noqa: E402
from requests.cookies import RequestsCookieJar  # noqa: E402

from bench.seeding import seed_playback_clip  # noqa: E402

MiB = 1024 * 1024
RANGE_BYTES = MiB
TARGET_RANGE_P95_RATIO = 2.0
REGION: Final = "eu-west-2"
PASSWORD = "bench-password-not-secret"
EMAIL = "facilitator@load.example.org"
STARTUP_SECONDS = 90.0
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


class Stop(Exception):
    """SIGTERM, turned into an exception so that clean-up runs."""


def _ignore_stop_signals() -> None:
    """From here on, Ctrl-C and SIGTERM must not interrupt the clean-up."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _on_stop_signal(signum: int, frame: object) -> None:
    _ignore_stop_signals()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- children ------------------------------------------------------------------------


def run_moto() -> None:
    """Child mode: a moto S3/KMS server on loopback until stdin closes."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(f"READY {server.get_host_and_port()[1]}", flush=True)
    try:
        sys.stdin.read()  # EOF when the parent closes the pipe or dies
    finally:
        server.stop()


class Children:
    """Child processes, each in its own process group; stopped in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen[str]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], **kw: Any) -> Any:
        log = (self.logs / f"{name}.log").open("w")
        kw.setdefault("stdout", log)
        proc = subprocess.Popen(argv, env=env, stderr=log, text=True, start_new_session=True, **kw)
        self.procs.append((name, proc))
        return proc

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs if proc.poll() is not None]

    def stop(self) -> None:
        _ignore_stop_signals()
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def nginx_config(tmp: Path, port: int, docroot: Path) -> Path:
    """An nginx.conf for one loopback server of ``docroot``; everything under ``tmp``."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    types {{ video/mp4 mp4; }}
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
    }}
}}
"""
    )
    return conf


def wait_http(url: str, proc: subprocess.Popen[str], name: str) -> None:
    """Poll ``url`` until it answers below 500; raises if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode} (see its log)")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer within {STARTUP_SECONDS:.0f} s")


# -- set-up --------------------------------------------------------------------------


@contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``base_url``; yields its URL; dropped
    after. A database, not a schema: the audit chain's advisory lock is per database,
    so other users of ``base_url``'s database (a test run) cannot stall the bench."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"verp_load_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def redis_queue(url: str) -> Iterator[str]:
    """A private huey queue name on Redis; yields the queue URL; its keys removed after."""
    import redis

    name = f"verp-load-{uuid.uuid4().hex[:12]}"
    try:
        yield f"{url}?name={name}"
    finally:
        client = redis.Redis.from_url(url)
        try:
            for key in client.scan_iter(match=f"*{name}*"):
                client.delete(key)
        finally:
            client.close()


def build_clip(env: dict[str, str], plain: Path, size: int) -> str:
    """Initialise the installation; a site, a facilitator, a consent and a ready clip
    whose playback rendition is ``size`` random bytes (also kept in ``plain``)."""
    from config import load_settings

    settings = load_settings(environ=env)
    return seed_playback_clip(
        settings, plain, size, slug="load", family="FAM-7000", email=EMAIL, password=PASSWORD
    )


def make_bucket_and_key(endpoint: str) -> tuple[str, str]:
    import boto3

    bucket = f"verp-load-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    kms = boto3.client("kms", endpoint_url=endpoint, region_name=REGION)
    key = kms.create_key(Description="verp load bench KEK", KeyUsage="ENCRYPT_DECRYPT")
    return bucket, str(key["KeyMetadata"]["KeyId"])


# -- clients -------------------------------------------------------------------------


def sign_in(base: str) -> tuple[RequestsCookieJar, str]:
    """Sign in once; returns the session cookies and the CSRF token (shared by threads:
    the session is server-side and valid on every web process).

    The jar keeps each cookie's domain, so a cookie the server re-sends replaces the
    copy in a client's jar, as in a browser (a plain dict would leave the stale copy
    beside it, and the server would keep reading the stale one)."""
    http = requests.Session()
    http.trust_env = False
    token = _token(http.get(f"{base}/login", timeout=30).text)
    response = http.post(
        f"{base}/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")
    token = _token(http.get(f"{base}/account", timeout=30).text)
    return http.cookies.copy(), token


def _token(html: str) -> str:
    found = _META.search(html)
    if found is None:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


def client(cookies: RequestsCookieJar | None = None) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    if cookies is not None:
        http.cookies = cookies.copy()
    return http


class Recorder:
    """Latencies (seconds) and errors per series, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {"verp": [], "nginx": [], "annotate": []}
        self.errors: dict[str, int] = {name: 0 for name in self.times}
        self.first_errors: list[str] = []

    def ok(self, series: str, seconds: float) -> None:
        with self.lock:
            self.times[series].append(seconds)

    def error(self, series: str, what: str) -> None:
        with self.lock:
            self.errors[series] += 1
            if len(self.first_errors) < 5:
                self.first_errors.append(f"{series}: {what}")


def viewer(
    index: int, bases: list[str], nginx: str, cookies: RequestsCookieJar, media: str,
    plain: Path, size: int, until: float, max_requests: int, rec: Recorder,
) -> None:  # fmt: skip
    """Random 1 MiB Range GETs, verp and nginx for the same range, bodies checked."""
    rng = random.Random(1000 + index)
    verp, base_http = client(cookies), client()
    with plain.open("rb") as source:
        for n in range(max_requests):
            if time.monotonic() >= until:
                return
            start = rng.randrange(0, size - RANGE_BYTES + 1)
            source.seek(start)
            expected = source.read(RANGE_BYTES)
            header = {"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"}
            targets = [
                ("verp", verp, f"{bases[(index + n) % len(bases)]}{media}"),
                ("nginx", base_http, nginx),
            ]
            for series, http, url in targets if n % 2 == 0 else targets[::-1]:
                began = time.perf_counter()
                try:
                    response = http.get(url, headers=header, timeout=30)
                    body = response.content
                except requests.RequestException as exc:
                    rec.error(series, type(exc).__name__)
                    continue
                elapsed = time.perf_counter() - began
                if response.status_code != 206 or body != expected:
                    rec.error(series, f"status {response.status_code}, {len(body)} bytes")
                else:
                    rec.ok(series, elapsed)


def coder(
    index: int, bases: list[str], cookies: RequestsCookieJar, token: str, clip_id: str,
    round_no: int, until: float, max_requests: int, rec: Recorder,
) -> None:  # fmt: skip
    """Create annotations on the shared clip until the round ends."""
    http = client(cookies)
    for n in range(max_requests):
        if time.monotonic() >= until:
            return
        url = f"{bases[(index + n) % len(bases)]}/api/v1/clips/{clip_id}/annotations"
        start_ms = ((round_no * 64 + index) * max_requests + n) * 10 % 600_000
        body = {"start_ms": start_ms, "subject": "infant", "scheme_id": "infant-cues",
                "codes": ["smiling"], "text": f"load {round_no}/{index}/{n}"}  # fmt: skip
        began = time.perf_counter()
        try:
            response = http.post(url, json=body, headers={"X-CSRFToken": token}, timeout=30)
        except requests.RequestException as exc:
            rec.error("annotate", type(exc).__name__)
            continue
        elapsed = time.perf_counter() - began
        if response.status_code != 201:
            rec.error("annotate", f"status {response.status_code}: {response.text[:120]}")
        else:
            rec.ok("annotate", elapsed)


# -- statistics ----------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def stats(values: list[float], errors: int) -> dict[str, Any]:
    if not values:
        return {"requests": 0, "errors": errors}
    return {
        "requests": len(values),
        "errors": errors,
        **{f"p{p}_ms": round(percentile(values, p) * 1000, 2) for p in (50, 95, 99)},
    }


def summarise(rec: Recorder) -> dict[str, Any]:
    out: dict[str, Any] = {name: stats(rec.times[name], rec.errors[name]) for name in rec.times}
    verp, nginx = out["verp"], out["nginx"]
    if verp.get("requests") and nginx.get("requests"):
        out["range_ratio_to_nginx"] = {
            q: round(verp[f"{q}_ms"] / nginx[f"{q}_ms"], 2) for q in ("p50", "p95", "p99")
        }
    return out


# -- the run -------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    load_at_start = os.getloadavg()
    size = args.size_mib * MiB
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="verp-load-")))
        logs = tmp / "logs"
        logs.mkdir()
        children = Children(logs)
        stack.callback(children.stop)
        db_url = stack.enter_context(pg_database(args.postgres))
        queue_url = stack.enter_context(redis_queue(args.redis))
        moto = children.start(
            "moto", [sys.executable, __file__, "--moto"], {**os.environ, **_AWS_ENV},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        line = moto.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError("the moto server did not start (see its log)")
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        os.environ.update(_AWS_ENV)  # boto3 in this process (set-up) talks to moto only
        os.environ.pop("AWS_PROFILE", None)
        bucket, key_id = make_bucket_and_key(endpoint)
        env = {
            "VERP_HOME": str(tmp / "home"),
            "VERP_DATABASE_URL": db_url,
            "VERP_BLOB_URL": f"s3://{bucket}/verp",
            "VERP_S3_ENDPOINT_URL": endpoint,
            "VERP_KEY_PROVIDER": "kms",
            "VERP_KMS_KEY_ID": key_id,
            "VERP_KMS_ENDPOINT_URL": endpoint,
            "VERP_AWS_REGION": REGION,
            "VERP_QUEUE_URL": queue_url,
            "VERP_SECURE_COOKIES": "false",
            **_AWS_ENV,
        }
        docroot = tmp / "www"
        docroot.mkdir()
        plain = docroot / "playback.mp4"
        clip_id = build_clip(env, plain, size)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")} | env
        verp = [sys.executable, "-c", "from webapp.cli import main; main()"]
        bases = []
        for n in range(2):
            port = free_port()
            proc = children.start(
                f"web{n}",
                [*verp, "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(args.web_workers), "--threads", str(args.threads)],
                child_env,
            )  # fmt: skip
            bases.append((f"http://127.0.0.1:{port}", proc, f"web{n}"))
        for n in range(2):
            children.start(f"worker{n}", [*verp, "worker"], child_env)
        nginx_port = free_port()
        conf = nginx_config(tmp, nginx_port, docroot)
        nginx = children.start(
            "nginx", [nginx_bin, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"], child_env
        )
        nginx_url = f"http://127.0.0.1:{nginx_port}/playback.mp4"
        wait_http(nginx_url, nginx, "nginx")
        for base, proc, name in bases:
            wait_http(f"{base}/login", proc, name)
        urls = [base for base, _, _ in bases]
        cookies, token = sign_in(urls[0])
        media = f"/api/v1/clips/{clip_id}/media"
        # Warm-up (untimed): connections, caches, the session on both processes.
        for base in urls:
            for _ in range(3):
                client(cookies).get(f"{base}{media}", headers={"Range": "bytes=0-99"}, timeout=30)
        stack.callback(_ignore_stop_signals)  # runs first when the stack unwinds
        total = Recorder()
        rounds = []
        for round_no in range(args.rounds):
            rec = Recorder()
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=viewer, args=(
                    i, urls, nginx_url, cookies, media, plain, size, until, args.max_requests,
                    rec,
                )) for i in range(args.viewers)
            ] + [
                threading.Thread(target=coder, args=(
                    i, urls, cookies, token, clip_id, round_no, until, args.max_requests, rec,
                )) for i in range(args.coders)
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            dead = children.dead()
            if dead:
                raise RuntimeError(f"children exited during the run: {dead}")
            for name in rec.times:
                total.times[name] += rec.times[name]
                total.errors[name] += rec.errors[name]
            total.first_errors += rec.first_errors[: 5 - len(total.first_errors)]
            rounds.append({"round": round_no + 1, **summarise(rec),
                           "load_average_1min": round(os.getloadavg()[0], 2)})  # fmt: skip
    overall = summarise(total)
    ratio = overall.get("range_ratio_to_nginx", {}).get("p95", float("inf"))
    errors = sum(total.errors.values())
    return {
        "stack": "PostgreSQL (fresh database) + Redis queue + moto S3/KMS + 2 x verp serve "
        f"(gunicorn gthread, {args.web_workers} worker x {args.threads} threads) + "
        "2 x verp worker; baseline nginx sendfile on the same plaintext",
        "rendition_mib": args.size_mib,
        "viewers": args.viewers,
        "coders": args.coders,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "range_bytes": RANGE_BYTES,
        "overall": overall,
        "every_round": rounds,
        "errors_total": errors,
        "first_errors": total.first_errors,
        "note": "moto (not S3) reads the whole object under a per-object lock for every "
        "ranged GET, so the verp figures include a cost that grows with --size-mib",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "targets": {"range_p95_ratio_max": TARGET_RANGE_P95_RATIO, "errors": 0},
        "targets_met": ratio <= TARGET_RANGE_P95_RATIO and errors == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=64, help="rendition size (see doc)")
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--coders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one round")
    parser.add_argument("--max-requests", type=int, default=100, help="per client and round")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn workers per serve")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "VERP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--moto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.moto:
        run_moto()
        return 0
    if args.size_mib < 2:
        raise SystemExit("--size-mib must be at least 2")
    signal.signal(signal.SIGTERM, _on_stop_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_stop_signal)
    try:
        result = run(args)
    except (KeyboardInterrupt, Stop):
        print("stopped; children and temporary state cleaned up", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2 if not args.json else None))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())

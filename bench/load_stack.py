"""The scale-out stack of bench/load.py: its child processes (moto, nginx, verp serve and
worker), a scratch PostgreSQL database, a private Redis queue, a seeded clip."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

import requests

from bench.seeding import seed_playback_clip

MiB = 1024 * 1024
REGION: Final = "eu-west-2"
PASSWORD = "bench-password-not-secret"
EMAIL = "facilitator@load.example.org"
STARTUP_SECONDS = 90.0
AWS_ENV = {
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


def ignore_stop_signals() -> None:
    """From here on, Ctrl-C and SIGTERM must not interrupt the clean-up."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def on_stop_signal(signum: int, frame: object) -> None:
    ignore_stop_signals()
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
        ignore_stop_signals()
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

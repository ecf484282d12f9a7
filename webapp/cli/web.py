"""`verp serve` (the web app under gunicorn) and `verp demo` (seeded, on localhost)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from config import Settings, load_settings
from storage.db.engine import make_engine
from storage.migrate import current_revision, head_revision
from webapp.composition import build_services, check_ffmpeg, initialize
from webapp.demo_programme import NATIONAL_SLUG

#: Access log without client addresses or query strings (filters can hold family codes).
ACCESS_LOG_FORMAT = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class WebServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running :func:`webapp.app.create_app` with explicit settings.

    Each worker builds its own app and services after the fork (no shared engines).
    """

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # older gunicorn lacks some (control_socket_*)
                self.cfg.set(key, value)

    def load(self) -> Flask:
        from webapp.app import create_app

        return create_app(self.settings)


def gunicorn_options(settings: Settings, *, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn settings for production: threaded workers, bounded timeouts, quiet logs."""
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # A tus PATCH of 5 MiB on a slow tablet connection can take a while.
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "proc_name": "verp-web",
        "control_socket_disable": True,  # no runtime-management socket to secure
        "preload_app": False,
    }


def check_schema(settings: Settings) -> None:
    """Refuse to serve a database that `verp init` has not brought up to date."""
    engine = make_engine(settings.database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current != head_revision():
        raise click.ClickException(
            f"the database schema is at {current or 'nothing'}, not {head_revision()}: "
            "run `verp init` first"
        )


def serve(settings: Settings, *, workers: int, threads: int) -> None:
    """Run the web app until stopped (SIGTERM/Ctrl-C)."""
    WebServer(settings, gunicorn_options(settings, workers=workers, threads=threads)).run()


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on [default: web.host].")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="[default: web.port]")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve_cmd(host: str | None, port: int | None, workers: int, threads: int) -> None:
    """Serve the web app with gunicorn. Run `verp worker` beside it to process uploads."""
    overrides: dict[str, Any] = {}
    if host:
        overrides["web.host"] = host
    if port:
        overrides["web.port"] = port
    settings = load_settings(overrides=overrides)
    check_schema(settings)
    check_ffmpeg(settings)  # before gunicorn forks: a clear error, not a boot failure
    serve(settings, workers=workers, threads=threads)


def demo_settings(port: int | None) -> Settings:
    """The demo's settings: the embedded default on localhost, plain-http cookies, and
    clips shareable with the demo's national training team.

    The port is ``--port``, else ``VERP_PORT``, else the default (8000)."""
    overrides: dict[str, Any] = {
        "web.secure_cookies": False,
        "web.host": "127.0.0.1",
        "sharing.receiving_sites": [NATIONAL_SLUG],
    }
    if port is not None:
        overrides["web.port"] = port
    return load_settings(overrides=overrides)


@click.command("demo")
@click.option(
    "--port", default=None, type=click.IntRange(1, 65535), help="[default: VERP_PORT or 8000]"
)
@click.option("--no-serve", is_flag=True, help="Only seed the demo data.")
def demo_cmd(port: int | None, no_serve: bool) -> None:
    """Set up VERP_HOME (default ./var), seed a demo site and serve it on 127.0.0.1.

    A second run reuses the seeded data. The demo accounts' passwords are fixed and
    printed below: this is for a local demonstration only.
    """
    from webapp import demo

    settings = demo_settings(port)
    for line in initialize(settings):
        click.echo(f"created {line}")
    svc = build_services(settings)
    try:
        seeded = demo.seed(svc, say=click.echo)
    finally:
        svc.close()
    for line in seeded.created:
        click.echo(f"seeded {line}")
    click.echo("\nDemo accounts (demo only; passwords are fixed and public):")
    for role, password in demo.PASSWORDS.items():
        click.echo(f"  {role:<12} {demo.email(role):<32} {password}")
    if no_serve:
        return
    click.echo(f"\nverp demo on http://{settings.host}:{settings.port}/  (Ctrl-C to stop)\n")
    worker = subprocess.Popen(  # the real job worker, on the same VERP_HOME
        [sys.executable, "-c", "from webapp.cli import main; main()", "worker"]
    )
    try:
        serve(settings, workers=1, threads=8)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


def register(cli: click.Group) -> None:
    cli.add_command(serve_cmd)
    cli.add_command(demo_cmd)

"""`verp worker`: run processing jobs from the queue (SQLite or Redis)."""

from __future__ import annotations

import logging

import click

from ingest.workspace import clean_stale, remove_live
from webapp.cli.common import emit, json_option, services


@click.command("worker")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs run at once (threads; each transcode uses every core it can).",
)
@click.option("--once", is_flag=True, help="Run what is queued now, then exit.")
@json_option
def worker_cmd(workers: int, once: bool, as_json: bool) -> None:
    """Process uploaded clips and render moments until stopped.

    Ctrl-C (SIGINT) lets running jobs finish first; SIGTERM stops at once (the jobs are
    picked up again later).

    On start it removes job workspaces a killed worker left behind and re-queues clips
    whose worker died. Run one per machine against VERP_QUEUE_URL=redis://... to scale
    out; the database keeps two workers off the same clip.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with services() as svc:
        removed = clean_stale(svc.settings.workspace_dir)
        if removed:
            logging.getLogger(__name__).info("removed %d stale job workspace(s)", len(removed))
        requeued = svc.queue.recover()
        if once:
            ran = svc.queue.run_once()
            emit(
                {"stale_workspaces": len(removed), "requeued": len(requeued), "jobs": ran},
                as_json,
                text=f"ran {ran} job(s)",
            )
            return
        try:
            svc.queue.consumer(workers).run()
        finally:
            # SIGTERM stops the consumer without waiting for running jobs (SIGINT waits):
            # their plaintext must not stay on disk until the next start.
            remove_live()


def register(cli: click.Group) -> None:
    cli.add_command(worker_cmd)

"""`verp worker`: run processing jobs from the queue (SQLite or Redis)."""

from __future__ import annotations

import logging
import sys

import click

from ingest.claims import release_own
from ingest.workspace import clean_stale, remove_live
from storage.private_output import sweep_partials
from webapp.cli.common import emit, json_option, services
from webapp.cli.guards import exit_status_for, partials_dir, stop_signals_raise
from webapp.composition import Services


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

    Ctrl-C (SIGINT) lets running jobs finish first (a second Ctrl-C stops at once);
    SIGTERM stops at once: running jobs' workspaces are removed, their ffmpeg stopped
    and their clips handed back to the queue for the next worker. The exit status is
    then 128 + the signal number (143 for SIGTERM, 130 for SIGINT).

    On start it removes job workspaces a killed worker left behind and re-queues clips
    whose worker died. Run one per machine against VERP_QUEUE_URL=redis://... to scale
    out; the database keeps two workers off the same clip.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with stop_signals_raise(), services() as svc:
        removed = clean_stale(svc.settings.workspace_dir)
        if removed:
            logging.getLogger(__name__).info("removed %d stale job workspace(s)", len(removed))
        partials = sweep_partials(partials_dir(svc.settings))
        if partials:
            logging.getLogger(__name__).info("removed %d partial export(s)", len(partials))
        requeued = svc.queue.recover()
        if once:
            try:
                ran = svc.queue.run_once()
            except BaseException:
                _stop_jobs(svc)  # SIGTERM/SIGINT turned into an exception by the guard
                raise
            emit(
                {"stale_workspaces": len(removed), "requeued": len(requeued), "jobs": ran},
                as_json,
                text=f"ran {ran} job(s)",
            )
            return
        consumer = svc.queue.consumer(workers)
        try:
            consumer.run()
        finally:
            # SIGTERM stops the consumer without waiting for running jobs (SIGINT waits):
            # their plaintext must not stay on disk until the next start.
            _stop_jobs(svc)
            svc.queue.scheduler_lease.release()
        # huey records the stop signal it handled; a stopped worker exits non-zero.
        signum: int | None = getattr(consumer, "_signum", None)
    sys.exit(exit_status_for(signum))


def _stop_jobs(svc: Services) -> None:
    """Hand this process's clips back to the queue, then stop their tools and remove
    their workspaces (waiting briefly for the job threads to let go)."""
    try:
        requeued = release_own(svc)
        if requeued:
            logging.getLogger(__name__).info("handed back %d clip(s) to the queue", len(requeued))
    finally:
        remove_live()


def register(cli: click.Group) -> None:
    cli.add_command(worker_cmd)

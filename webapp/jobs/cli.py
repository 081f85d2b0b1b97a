"""`flask jobs work`: the worker that runs queued jobs (commits, imports) one at a time."""

import signal
import threading

import click

from webapp.jobs import bp
from webapp.jobs.queue import work

jobs_cli = bp.cli
jobs_cli.help = "Run the background jobs (long commits and imports) queued by the pages."


@jobs_cli.command("work")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between looks at the queue.")
@click.option("--once", is_flag=True, help="Run the jobs waiting now, then stop.")
def work_command(poll: float, once: bool) -> None:
    """Claim and run queued jobs, one at a time, until stopped (SIGTERM or Ctrl-C end it after
    the job at hand)."""
    stop = threading.Event()

    def request_stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if not once:
        click.echo("Working on queued jobs (SIGTERM stops after the job at hand).")
    work(poll_seconds=poll, stop=stop, once=once)

"""`assistant jobs`: list scheduled jobs with their next run; `assistant jobs run ID`."""

from __future__ import annotations

from datetime import datetime

import click

from assistant.cli import app_context


@click.group(invoke_without_command=True)
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """List scheduled jobs and their next run times."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from assistant.background.jobs import interrupted
    from assistant.background.scheduler import describe_next, list_jobs

    settings = app_context(ctx).loaded.settings
    cut_off = interrupted()
    table = Table(title="scheduled jobs")
    for column in ("id", "what", "next run", "last run"):
        table.add_column(column, overflow="fold")
    for row in list_jobs(settings):
        last = "never"
        if row.last_run:
            when = datetime.fromtimestamp(row.last_run["started"]).strftime("%Y-%m-%d %H:%M")
            state = "ok" if row.last_run.get("ok") else "FAILED"
            if row.last_run.get("running"):
                state = "running" if row.id not in cut_off else "CUT OFF (process ended)"
            last = f"{when} {state}: {row.last_run.get('detail', '')}"
        nxt = describe_next(row) + ("" if row.scheduled else " (once `assistant run` starts)")
        table.add_row(row.id, row.description, nxt, last)
    Console(width=140).print(table)
    from assistant.probes.cost import nightly_cost_line

    click.echo(f"nightly_probe: {nightly_cost_line(settings)}")


@jobs.command("run")
@click.argument("job_id")
@click.pass_context
def run_now(ctx: click.Context, job_id: str) -> None:
    """Run one job now (inside `assistant run` when it is up, else in this process)."""
    from assistant.app import serving
    from assistant.background.jobs import Runtime, installed, last_runs
    from assistant.background.scheduler import run_job_now

    settings = app_context(ctx).loaded.settings
    if serving() is not None:  # inside `assistant run`: its installed runtime runs the job
        result = run_job_now(settings, job_id)
    else:
        progress = lambda line: click.echo(f"  {line}", err=True)  # noqa: E731
        with installed(Runtime(settings, progress=progress)):
            result = run_job_now(settings, job_id)
    outcome = last_runs().get(job_id, {})
    if outcome.get("ok"):
        click.echo(f"{job_id}: {result}")
    else:
        click.echo(f"{job_id} failed: {outcome.get('detail', 'see the log')}", err=True)
        ctx.exit(1)

"""`assistant run`: the long-running service (scheduler, Slack bot, shared model)."""

from __future__ import annotations

import click

from assistant.cli import app_context


@click.command()
@click.option(
    "--no-model", is_flag=True, help="Do not preload the model (jobs load it on first use)."
)
@click.pass_context
def run(ctx: click.Context, no_model: bool) -> None:
    """Run the assistant: scheduled pulls, summaries, digest, nightly probe, Slack bot."""
    from assistant.background.service import run_service

    settings = app_context(ctx).loaded.settings
    run_service(settings, echo=click.echo, load_model=not no_model)

"""`assistant slack`: run the Slack bot on its own until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from assistant.cli import app_context


@click.command()
@click.pass_context
def slack(ctx: click.Context) -> None:
    """Chat in Slack: Socket Mode with SLACK_APP_TOKEN, else the HTTP Events API.

    Needs SLACK_BOT_TOKEN, plus SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET
    (HTTP, listening on slack.http_host:slack.http_port at /slack/events).
    """
    settings = app_context(ctx).loaded.settings
    from assistant.app import App
    from assistant.slack.bot import read_tokens, start_slack

    app = App(settings)
    tokens = read_tokens(app.secrets)  # a missing token is one line before any model loads
    app.llm  # noqa: B018 - load the model before listening
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    with app:
        handle = start_slack(app)
        where = "Socket Mode" if tokens.socket_mode else f"HTTP at {handle.url}"
        click.echo(f"Slack bot running ({where}); Ctrl-C to stop")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            click.echo("stopping: finishing replies in progress…")
            handle.stop()
            signal.signal(signal.SIGTERM, previous)

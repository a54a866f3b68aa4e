"""`assistant chat`: talk to the assistant in the terminal (streams; resumes threads)."""

from __future__ import annotations

import click

from assistant import fast_exit
from assistant.cli import app_context


@click.command()
@click.option(
    "--thread",
    "thread_id",
    default=None,
    help="Thread to resume or start (default: chat.default_thread).",
)
@click.option("--user", "user_id", default=None, help="Memory user id (default: persona.user_id).")
@click.pass_context
def chat(ctx: click.Context, thread_id: str | None, user_id: str | None) -> None:
    """Chat in the terminal; /help lists commands, Ctrl-D or /quit leaves."""
    settings = app_context(ctx).loaded.settings
    from assistant.app import App, Identity
    from assistant.local_api.client import RemoteSession, connect

    user = user_id or Identity.from_settings(settings).owner
    thread = thread_id or settings.chat.default_thread
    client = connect(notify=lambda line: click.echo(line, err=True))
    if client is not None:  # `assistant run` is up: it owns the data; chat through it
        from assistant.graph.terminal import run_remote_chat

        try:
            run_remote_chat(RemoteSession(client, settings, user, thread))
        finally:
            client.close()
        return
    from assistant.graph.terminal import run_chat

    with App(settings) as app:
        run_chat(app, user_id=user, thread_id=thread)
    # memory, checkpointer and folder lock are closed: skip the interpreter's ~2 s teardown
    fast_exit.allow()

"""`assistant goals`: the user's goals as a table."""

from __future__ import annotations

import click

from assistant.cli import app_context


@click.command()
@click.option("--user", "user_id", default=None, help="Memory user id (default: persona.user_id).")
@click.option(
    "--open", "only_open", is_flag=True, help="Only goals still active or waiting on you."
)
@click.pass_context
def goals(ctx: click.Context, user_id: str | None, only_open: bool) -> None:
    """List goals tracked across chats (status, what is known, what is missing)."""
    settings = app_context(ctx).loaded.settings
    from rich.console import Console

    from assistant.app import command_app
    from assistant.graph.terminal import goals_table

    with command_app(settings) as app:
        user = user_id or app.identity.owner
        store = app.memory
        found = store.goals.open_goals(user) if only_open else store.goals.list(user)
    found = sorted(found, key=lambda g: (g.status in ("done", "dropped"), -g.updated))
    console = Console()
    if not found:
        console.print(f"No goals for user {user}. Tell `assistant chat` what you are trying to do.")
        return
    console.print(goals_table(found, title=f"Goals of {user}"))

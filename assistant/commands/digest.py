"""`assistant digest`: build (and post once) a day's digest; `assistant digest feedback`."""

from __future__ import annotations

from datetime import date

import click

from assistant.cli import app_context


@click.group(invoke_without_command=True)
@click.option("--date", "day", default=None, help="Day to build, YYYY-MM-DD (default: today).")
@click.option("--no-post", is_flag=True, help="Write the files only; do not post to Slack.")
@click.option("--open", "open_", is_flag=True, help="Open the HTML digest in a browser.")
@click.option("--user", default=None, help="User id (default: feeds.owner).")
@click.pass_context
def digest(
    ctx: click.Context, day: str | None, no_post: bool, open_: bool, user: str | None
) -> None:
    """Build the digest of items since the last one: Markdown, HTML, and a Slack post."""
    if ctx.invoked_subcommand is not None:
        return
    from assistant.app import command_app
    from assistant.background.digest import build_digest, today
    from assistant.errors import ConfigError

    settings = app_context(ctx).loaded.settings
    try:
        when = date.fromisoformat(day) if day else today(settings)
    except ValueError:
        raise ConfigError(f"--date {day!r} is not a date; use YYYY-MM-DD") from None
    post = settings.digest.post_to_slack and not no_post
    with command_app(settings) as app:
        result = build_digest(
            settings,
            app.memory,
            day=when,
            user_id=user or app.identity.owner,
            post=post,
            client=app.slack if post else None,
        )
    click.echo(
        f"{len(result.digest.items)} items (of {result.considered} new) -> {result.markdown_path}"
    )
    click.echo(f"html: {result.html_path}")
    click.echo(f"Slack: {result.post_status}")
    if open_:
        click.launch(str(result.html_path))


@digest.command("feedback")
@click.argument("item_id")
@click.argument("direction", type=click.Choice(["up", "down"]))
@click.option("--user", default=None, help="User id (default: feeds.owner).")
@click.pass_context
def feedback(ctx: click.Context, item_id: str, direction: str, user: str | None) -> None:
    """Say more (up) or fewer (down) items like ITEM_ID; tunes the ranking."""
    from assistant.app import command_app
    from assistant.background.digest import record_feedback

    settings = app_context(ctx).loaded.settings
    with command_app(settings) as app:
        item = record_feedback(
            app.memory,
            user_id=user or app.identity.owner,
            item_id=item_id,
            positive=direction == "up",
        )
    click.echo(f"noted: {'more' if direction == 'up' else 'fewer'} items like “{item.title}”")

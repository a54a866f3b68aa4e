"""`assistant feeds`: pull arXiv and Slack feeds into memory, and list what is stored."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, cast

import click

from assistant.cli import app_context
from assistant.safetext import shown

if TYPE_CHECKING:
    from connectors.ingest import FeedReport, PullReport, SourceName

_RELATIVE_RE = re.compile(r"^(\d+)\s*d(ays?)?$", re.IGNORECASE)


class BadOption(click.ClickException):
    """A bad option value: one line, exit code 2."""

    exit_code = 2


def parse_since(value: str, *, today: date | None = None) -> datetime:
    """YYYY-MM-DD, an ISO date-time, 'today', 'yesterday' or 'Nd' (N days ago), as UTC."""
    text = value.strip().lower()
    today = today or datetime.now(UTC).date()
    day: date | None = None
    if text == "today":
        day = today
    elif text == "yesterday":
        day = today - timedelta(days=1)
    elif match := _RELATIVE_RE.match(text):
        day = today - timedelta(days=int(match.group(1)))
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadOption(
            f"--since {value!r} is not a date; use YYYY-MM-DD (e.g. 2026-11-20), 'yesterday' or '3d'"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def summary_line(feed: FeedReport) -> str:
    """`name: new N, updated N, unchanged N, failed N` plus a note or the error."""
    line = (
        f"{feed.name}: new {feed.new}, updated {feed.updated}, "
        f"unchanged {feed.unchanged}, failed {feed.failed}"
    )
    if feed.failed:
        return f"{line}: {feed.error}"
    if feed.not_modified:
        return f"{line} (not modified since last pull)"
    if feed.warning:
        return f"{line} (kept the well-formed entries: {feed.warning})"
    return line


def total_line(report: PullReport) -> str:
    t = report.total()
    return (
        f"total: new {t.new}, updated {t.updated}, unchanged {t.unchanged}, "
        f"failed {t.failed} ({len(report.feeds)} feeds)"
    )


@click.group()
def feeds() -> None:
    """Read arXiv and Slack feeds into memory."""


@feeds.command()
@click.option(
    "--source", type=click.Choice(["arxiv", "slack"]), default=None, help="Only this source."
)
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="DATE",
    help="Only items from DATE on (re-reads).",
)
@click.pass_context
def pull(ctx: click.Context, source: str | None, since_text: str | None) -> None:
    """Fetch new items; prints one summary line per feed and a total."""
    since = parse_since(since_text) if since_text else None  # bad input fails before any import
    from rich.console import Console

    from assistant.app import command_app
    from connectors.ingest import pull as run_pull

    settings = app_context(ctx).loaded.settings
    err = Console(stderr=True)
    with err.status("pulling feeds") as status, command_app(settings) as app:
        report = run_pull(
            settings,
            app.memory,
            source=cast("SourceName | None", source),
            since=since,
            progress=lambda msg: status.update(msg),
            slack_client=app.slack,
        )
    for feed in report.feeds:
        click.echo(summary_line(feed))
    click.echo(total_line(report))
    if not report.feeds:
        click.echo(
            "nothing to pull: configure feeds.arxiv_categories, arxiv_queries or slack_channels"
        )
    if not report.ok:
        ctx.exit(1)


@feeds.command(name="list")
@click.option(
    "--source", type=click.Choice(["arxiv", "slack"]), default=None, help="Only this source."
)
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows to show."
)
@click.pass_context
def list_items(ctx: click.Context, source: str | None, limit: int) -> None:
    """Show stored feed items, newest first."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from assistant.app import command_app

    settings = app_context(ctx).loaded.settings
    with command_app(settings) as app:
        items = app.memory.items.list(
            settings.feeds.owner, source=cast("SourceName | None", source), limit=limit
        )
    if not items:
        click.echo("no feed items stored yet; run `assistant feeds pull`")
        return
    table = Table(title=f"feed items ({len(items)})")
    table.add_column("date", no_wrap=True)
    table.add_column("source")
    table.add_column("title", overflow="fold")
    table.add_column("author", overflow="fold", max_width=24)
    table.add_column("marks", no_wrap=True)
    table.add_column("id", no_wrap=True)
    for item in items:
        when = datetime.fromtimestamp(item.published or item.updated, UTC).strftime(
            "%Y-%m-%d %H:%M"
        )
        marks = " ".join(
            m for m, on in (("@me", item.mentions_me), ("thread", item.my_thread)) if on
        )
        if item.source == "arxiv" and item.version > 1:
            marks = f"v{item.version} {marks}".strip()
        # feed text is external: no rich markup, no terminal escapes (ESC, BEL) from it
        cells = (item.title, item.author, item.id)
        title, author, item_id = (escape(shown(c)) for c in cells)
        table.add_row(when, item.source, title, author, marks, item_id)
    Console(width=160).print(table)

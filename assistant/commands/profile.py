"""`assistant profile`: see, search, forget, export and import what the assistant knows about a user."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from assistant.cli import app_context
from assistant.safetext import shown

if TYPE_CHECKING:
    from memory.interface import Memory

USER_HELP = "User id (default: persona.user_id from the config)."


@contextmanager
def _store(ctx: click.Context) -> Iterator[tuple[Memory, str]]:
    from assistant.app import command_app

    settings = app_context(ctx).loaded.settings
    with command_app(settings) as app:
        yield app.memory, ctx.params.get("user") or app.identity.owner


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d") if ts else "-"


def _table(title: str, rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(shown(title)))
    for h in headers:
        table.add_column(h, overflow="fold")
    for r in rows:
        # stored text is external: no rich markup, no terminal escapes (ESC, BEL) from it
        table.add_row(*(escape(shown(cell)) for cell in r))
    Console().print(table)


@click.group()
def profile() -> None:
    """What the assistant remembers about you."""


@profile.command()
@click.option("--user", default=None, help=USER_HELP)
@click.option("--history", is_flag=True, help="Also show facts that newer ones replaced.")
@click.pass_context
def show(ctx: click.Context, user: str | None, history: bool) -> None:
    """List the stored facts, identity first."""
    with _store(ctx) as (store, uid):
        facts = store.profile.facts(uid, include_superseded=history)
        goals = store.goals.open_goals(uid)
        cap = store.profile.cap_status(uid)
        turns = store.episodes.count(uid)
    click.echo(_cap_line(cap, turns))
    if not facts and not goals:
        click.echo(f"nothing stored for user {uid!r} yet")
        return
    rows = [
        (
            f.id[:8],
            f.kind,
            f.text,
            f"{f.confidence:.2f}",
            _when(f.updated),
            "replaced" if f.superseded_by else "",
        )
        for f in facts
    ]
    _table(f"profile of {uid}", rows, ("id", "kind", "fact", "conf", "updated", "status"))
    if goals:
        _table(
            "open goals",
            [(g.id[:8], g.status, g.statement) for g in goals],
            ("id", "status", "goal"),
        )


def _cap_line(cap: dict[str, Any], turns: int) -> str:
    line = f"{cap['stored']} of {cap['cap']} facts stored; {turns} conversation turns/summaries"
    if cap["evicted"]:
        line += (
            f"; {cap['evicted']} inferred fact(s) evicted at the cap, last on {_when(cap['last_eviction'])}"
            " (facts you asked to remember are never evicted)"
        )
    return line


@profile.command()
@click.argument("query")
@click.option("--user", default=None, help=USER_HELP)
@click.option("-k", "k", default=5, show_default=True, help="How many facts to show.")
@click.pass_context
def search(ctx: click.Context, query: str, user: str | None, k: int) -> None:
    """Facts that best answer QUERY."""
    with _store(ctx) as (store, uid):
        hits = store.profile.recall(uid, query, k=k)
    if not hits:
        click.echo(f"no facts stored for user {uid!r}")
        return
    _table(f"facts for {query!r}", [(h.fact.id[:8], h.fact.kind, h.fact.text, f"{h.score:.2f}") for h in hits],
           ("id", "kind", "fact", "score"))  # fmt: skip


@profile.command()
@click.argument("target")
@click.option("--user", default=None, help=USER_HELP)
@click.pass_context
def forget(ctx: click.Context, target: str, user: str | None) -> None:
    """Delete for good the fact with id TARGET (or an id prefix), or the facts matching TARGET."""
    with _store(ctx) as (store, uid):
        ids = [
            f.id
            for f in store.profile.facts(uid, include_superseded=True)
            if f.id.startswith(target)
        ]
        gone = store.profile.forget(uid, ids[0] if len(ids) == 1 and len(target) >= 6 else target)
        said = store.episodes.forget_matching(uid, target)
    if said:
        click.echo(f"deleted {len(said)} conversation turn(s) mentioning {target!r}")
    if not gone and said:
        return
    if not gone:
        click.echo(f"nothing matched {target!r}; nothing deleted")
        return
    click.echo(f"deleted {len(gone)} fact(s):")
    for f in gone:
        click.echo(f"  {f.id[:8]}  [{f.kind}] {shown(f.text)}")


@profile.command("export")
@click.option("--user", default=None, help=USER_HELP)
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable JSON (the format `import` reads)."
)
@click.pass_context
def export_(ctx: click.Context, user: str | None, as_json: bool) -> None:
    """Print everything stored about the user."""
    with _store(ctx) as (store, uid):
        data = store.profile.export(uid)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"# profile of {shown(uid)}")
    facts = cast("list[dict[str, Any]]", data["facts"])  # the export document's shape
    goals = cast("list[dict[str, Any]]", data["goals"])
    for f in facts:
        mark = " (replaced)" if f["superseded_by"] else ""
        click.echo(f"- [{f['kind']}] {shown(f['text'])}{mark}")
    for g in goals:
        click.echo(f"- [goal, {g['status']}] {shown(g['statement'])}")


@profile.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", default=None, help=USER_HELP)
@click.pass_context
def import_(ctx: click.Context, file: Path, user: str | None) -> None:
    """Add the facts of an export file (`profile export --json`) to the user's profile."""
    from assistant.errors import MemoryStoreError

    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MemoryStoreError(
            f"{file} is not a JSON profile export ({exc}); create one with `profile export --json`"
        ) from None
    with _store(ctx) as (store, uid):
        added = store.profile.import_(uid, data)
    click.echo(f"imported {added} new fact(s) for user {uid!r}")

"""Pull every configured feed into the memory item store, and fence items for the model.

`pull` is idempotent: the store's upsert dedupes by id, cache validators (ETag,
Last-Modified) and Slack cursors are saved only after the items they cover are stored, so
a crash between the two re-reads instead of losing items. A failing feed is counted as
failed with its one-line reason and never advances its cursor: an outage is never
recorded as "no new papers". The other feeds go on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

import httpx
from slack_sdk import WebClient

from assistant.config import Settings
from assistant.errors import ConnectorAuthError, ConnectorError
from assistant.safetext import clean
from connectors.arxiv import ArxivClient
from connectors.http import Validators
from connectors.slack import TOKEN_ENV, SlackReader, ts_key
from memory.types import Item, UpsertCounts

log = logging.getLogger(__name__)

_FENCE_TAG_RE = re.compile(r"<\s*/?\s*external", re.IGNORECASE)

SourceName = Literal["arxiv", "slack"]
Since = date | datetime | float | None


class _Items(Protocol):
    def upsert(self, items: Iterable[Item]) -> UpsertCounts: ...


class _State(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class ItemStore(Protocol):
    """The part of `memory.store.MemoryStore` a pull needs."""

    @property
    def items(self) -> _Items: ...

    @property
    def state(self) -> _State: ...


@dataclass
class FeedReport:
    """What one feed (an arXiv feed or a Slack channel) did in one pull."""

    name: str
    source: SourceName
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0  # 1 when the feed could not be read this time
    error: str = ""  # the one-line reason when failed
    not_modified: bool = False  # the server answered 304: nothing changed since the last pull
    warning: str = ""  # a malformed document whose good entries were kept, or a skipped backlog


@dataclass
class PullReport:
    """Per-feed counts of one pull, with totals."""

    feeds: list[FeedReport] = field(default_factory=list)

    def total(self) -> FeedReport:
        out = FeedReport("total", "arxiv")
        for f in self.feeds:
            out.new += f.new
            out.updated += f.updated
            out.unchanged += f.unchanged
            out.failed += f.failed
        return out

    @property
    def errors(self) -> list[str]:
        return [f"{f.name}: {f.error}" for f in self.feeds if f.failed]

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.feeds)


def since_timestamp(since: Since) -> float | None:
    """A --since value as unix seconds (dates are midnight UTC)."""
    if since is None:
        return None
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    if isinstance(since, date):
        return datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
    return float(since)


def pull(
    settings: Settings,
    store: ItemStore,
    *,
    source: SourceName | None = None,
    since: Since = None,
    progress: Callable[[str], None] | None = None,
    http_client: httpx.Client | None = None,
    slack_client: WebClient | None = None,
) -> PullReport:
    """Pull the configured feeds (one source or both) into `store`; never raises for one feed."""
    report = PullReport()
    say = progress or (lambda _msg: None)
    cutoff = since_timestamp(since)
    if source in (None, "arxiv"):
        _pull_arxiv(settings, store, report, say, cutoff, http_client)
    if source in (None, "slack"):
        _pull_slack(settings, store, report, say, cutoff, slack_client, explicit=source == "slack")
    # unattended (no progress callback) failures are warnings; a caller showing progress
    # prints the report itself, so the log file gets them without doubling the terminal
    level = logging.WARNING if progress is None else logging.INFO
    for feed in report.feeds:
        if feed.failed:
            log.log(level, "%s failed: %s", feed.name, feed.error)
    return report


def _pull_arxiv(
    settings: Settings,
    store: ItemStore,
    report: PullReport,
    say: Callable[[str], None],
    cutoff: float | None,
    http_client: httpx.Client | None,
) -> None:
    client = ArxivClient(settings.feeds, client=http_client)
    for feed in client.feeds():
        say(f"fetching {feed.name}")
        line = FeedReport(feed.name, "arxiv")
        report.feeds.append(line)
        key = f"feeds:{settings.feeds.owner}:validators:{feed.url}"
        # --since asks for a re-read, so the conditional headers are not sent
        validators = (
            Validators() if cutoff is not None else Validators.from_dict(store.state.get(key))
        )
        problem_key = f"feeds:{settings.feeds.owner}:problem:{feed.url}"
        known = str(store.state.get(problem_key) or "")
        try:
            fetched = client.fetch(feed, validators, known_problem=known)
        except ConnectorError as exc:
            _fail(line, exc)
            continue
        line.not_modified = fetched.not_modified
        line.warning = fetched.problem
        if fetched.problem != known:
            store.state.set(problem_key, fetched.problem)  # logged once until it changes
        items = [i for i in fetched.items if cutoff is None or (i.updated or i.published) >= cutoff]
        counts = store.items.upsert(stored_text(i) for i in items)
        _count(line, counts)
        # after a --since pull some entries were filtered out: keeping its ETag would make the
        # next plain pull answer 304 and never deliver them
        if cutoff is None and (fetched.validators.etag or fetched.validators.last_modified):
            store.state.set(key, fetched.validators.to_dict())


def _pull_slack(
    settings: Settings,
    store: ItemStore,
    report: PullReport,
    say: Callable[[str], None],
    cutoff: float | None,
    client: WebClient | None,
    *,
    explicit: bool,
) -> None:
    specs = list(settings.feeds.slack_channels)
    if not specs:
        if explicit:
            line = FeedReport("slack", "slack")
            _fail(
                line,
                ConnectorError("no Slack channels configured; list them in feeds.slack_channels"),
            )
            report.feeds.append(line)
        return
    if client is None:
        line = FeedReport("slack", "slack")
        _fail(
            line,
            ConnectorAuthError(
                f"{TOKEN_ENV} is not set; export the Slack bot token (xoxb-...) to read Slack channels"
            ),
        )
        report.feeds.append(line)
        return
    reader = SlackReader(
        client,
        owner=settings.feeds.owner,
        me=settings.slack.me,
        page_limit=settings.feeds.slack_page_limit,
        max_pages=settings.feeds.slack_max_pages,
    )
    say("resolving Slack channels")
    channels, unresolved = reader.resolve(specs)
    for spec, problem in unresolved:
        line = FeedReport(f"slack:{spec}", "slack")
        _fail(line, problem)
        report.feeds.append(line)
    backfill = time.time() - settings.feeds.slack_backfill_days * 86400
    for channel in channels:
        name = f"slack:#{channel.name}" if channel.name != channel.id else f"slack:{channel.id}"
        say(f"reading {name}")
        line = FeedReport(name, "slack")
        report.feeds.append(line)
        key = f"feeds:{settings.feeds.owner}:slack_ts:{channel.id}"
        last = str(store.state.get(key) or "")
        oldest = f"{cutoff:.6f}" if cutoff is not None else (last or f"{backfill:.6f}")
        threads_key = f"feeds:{settings.feeds.owner}:slack_threads:{channel.id}"
        followed = store.state.get(threads_key) or {}
        try:
            read = reader.read(
                channel,
                oldest,
                followed if isinstance(followed, dict) else {},
                follow_since=backfill,
                follow_max=settings.feeds.slack_follow_threads,
            )
        except ConnectorError as exc:
            _fail(line, exc)
            continue
        if read.truncated:
            line.warning = (
                f"stopped after {settings.feeds.slack_max_pages} pages; older messages skipped"
            )
        counts = store.items.upsert(stored_text(i) for i in read.items)
        _count(line, counts)
        store.state.set(threads_key, read.threads)
        # the cursor moves only past what this read covered: a --since later than the cursor
        # leaves a gap that the next plain pull must still read
        covered = cutoff is None or not last or cutoff <= _ts_float(last)
        if covered and read.latest_ts and ts_key(read.latest_ts) > ts_key(last):
            store.state.set(key, read.latest_ts)


def stored_text(item: Item) -> Item:
    """The item with control characters and undecodable bytes removed from its text fields.

    Feed text is printed by `feeds list`, quoted to the model and embedded: an ESC or BEL
    in a title must not reach a terminal, a lone surrogate must not reach a tokenizer.
    """
    title, text, author = clean(item.title), clean(item.text), clean(item.author)
    if (title, text, author) == (item.title, item.text, item.author):
        return item
    return replace(item, title=title, text=text, author=author)


def _ts_float(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return 0.0


def _fail(line: FeedReport, exc: ConnectorError) -> None:
    line.failed = 1
    line.error = str(exc)


def _count(line: FeedReport, counts: UpsertCounts) -> None:
    line.new += counts.new
    line.updated += counts.updated
    line.unchanged += counts.unchanged


# -- showing items to the model ----------------------------------------------------------


def _neutralise(text: str) -> str:
    # a fence cannot be closed or reopened from inside: any "<external" or "</external"
    # (any case, any spacing) loses its "<"; chat-template markers ("<|im_start|>") are split
    return _FENCE_TAG_RE.sub(lambda m: "&lt;" + m.group(0)[1:], text).replace("<|", "< |")


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def fence_block(body: str, **attrs: str) -> str:
    """Any external text wrapped as quoted data; nothing inside can close the fence.

    Attributes with an empty value are left out.
    """
    head = "<external" + "".join(f' {k}="{_attr(v)}"' for k, v in attrs.items() if v)
    return f"{head}>\n{_neutralise(body)}\n</external>"


def fence(item: Item, *, with_summary: bool = False) -> str:
    """Item text wrapped as quoted external data for a prompt; nothing inside can close the fence."""
    body = f"{item.title}\n\n{item.text}" if item.title else item.text
    if with_summary and item.summary:
        body += f"\n\nSummary: {item.summary}"
    return fence_block(body, source=item.source, id=item.id, author=item.author)


def fence_all(items: Iterable[Item]) -> str:
    """Several fenced items, one after another."""
    return "\n".join(fence(i) for i in items)

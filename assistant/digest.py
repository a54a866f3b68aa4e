"""The daily digest: rank what arrived since the last digest, write it, post it once.

Ranking: ``weight_relevance * cos(item, interest vector) + weight_recency * 0.5 **
(age / half life) + weight_slack * (mention 1.0, my thread 0.5, capped at 1)``.

Once per day per user: a small SQLite table (``digests/digests.sqlite``) remembers the
window a day's digest covers and the state of its Slack post. Posting is at-most-once:
the intent ("posting") is committed before chat.postMessage and the outcome after it.
A crash between the two leaves "posting"; the next run then does NOT post again and
logs a warning instead (the digest files are on disk either way). We chose this over
searching the channel history for our own message: a missed post is visible and
recoverable by hand, a double post is not undoable, and history search needs extra
scopes (and, for DMs, conversations.open).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import AssistantError, ConnectorError
from assistant.paths import data_dir

log = logging.getLogger(__name__)

CANDIDATES = 2000  # items considered per digest; far more than a day brings
POSITIVE = {"+1", "thumbsup", "heart", "star", "white_check_mark"}
NEGATIVE = {"-1", "thumbsdown", "x"}
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten"]


@dataclass(frozen=True)
class RankedItem:
    """An item with its score and the parts the score is made of."""

    item: Any  # memory.types.Item
    rank: int
    score: float
    relevance: float
    recency: float
    slack: float

    def reasons(self) -> list[str]:
        """Short words saying why the item ranked where it did."""
        out = [f"relevance {self.relevance:.2f}", f"recency {self.recency:.2f}"]
        if getattr(self.item, "mentions_me", False):
            out.append("mentions you")
        if getattr(self.item, "my_thread", False):
            out.append("your thread")
        return out


@dataclass
class Digest:
    """What a digest shows."""

    day: date
    user_id: str
    items: list[RankedItem]
    goals: list[str]
    probe: dict[str, Any] | None
    since: float
    until: float
    considered: list[str] = field(default_factory=list)  # every candidate id, shown or not


@dataclass
class DigestResult:
    """A built digest, where it was written and what happened to the Slack post."""

    digest: Digest
    markdown_path: Path
    html_path: Path
    post_status: str  # posted | already posted | skipped: why | failed: why | unknown: why
    considered: int = 0
    slack_ts: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def posted(self) -> bool:
        """True when this run posted the digest to Slack."""
        return self.post_status == "posted"

    @property
    def text(self) -> str:
        """A one-line plain-text version (Slack's fallback text)."""
        from assistant.digest_render import to_blocks

        return to_blocks(self.digest)[0]

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The digest as Slack Block Kit blocks."""
        from assistant.digest_render import to_blocks

        return to_blocks(self.digest)[1]

    def __str__(self) -> str:
        return (
            f"digest {self.digest.day} for {self.digest.user_id}: {len(self.digest.items)} of "
            f"{self.considered} items, {self.markdown_path.name}; Slack: {self.post_status}"
        )


# ---- the durable record -------------------------------------------------------------


def digests_dir() -> Path:
    """Where digest files and the digest record live."""
    return data_dir() / "digests"


@contextmanager
def _db() -> Iterator[sqlite3.Connection]:
    folder = digests_dir()
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "digests.sqlite", timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the post record must survive a power cut
        conn.execute(
            "CREATE TABLE IF NOT EXISTS digests (user_id TEXT, day TEXT, since REAL, until REAL, "
            "built_at REAL, item_ids TEXT, post_state TEXT DEFAULT '', channel TEXT DEFAULT '', "
            "ts TEXT DEFAULT '', detail TEXT DEFAULT '', slack_me TEXT DEFAULT '', "
            "considered TEXT DEFAULT '', "
            "PRIMARY KEY (user_id, day))"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(digests)")}
        for column in ("slack_me", "considered"):  # records written by an earlier version
            if column not in columns:
                conn.execute(f"ALTER TABLE digests ADD COLUMN {column} TEXT DEFAULT ''")
        yield conn
    finally:
        conn.close()


def _record(user_id: str, day: date) -> dict[str, Any] | None:
    with _db() as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM digests WHERE user_id=? AND day=?", (user_id, day.isoformat())
        ).fetchone()
    return dict(row) if row else None


def unfinished_posts() -> list[tuple[str, str, str]]:
    """(user, day, channel) of digest posts cut off mid-way; each is marked "unknown" once.

    A post killed between its intent and Slack's answer stayed "posting" silently until
    that day's digest ran again (usually never); the service reports it at start instead.
    """
    if not (digests_dir() / "digests.sqlite").exists():
        return []
    with _db() as conn:
        rows = conn.execute(
            "SELECT user_id, day, channel FROM digests WHERE post_state='posting'"
        ).fetchall()
    for user_id, day, _channel in rows:
        _set_post_state(user_id, date.fromisoformat(day), "unknown", detail="cut off while posting")
    return [(str(u), str(d), str(c)) for u, d, c in rows]


def _set_post_state(user_id: str, day: date, state: str, **cols: str) -> None:
    sets = ", ".join(["post_state=?"] + [f"{k}=?" for k in cols])
    with _db() as conn:
        conn.execute(
            f"UPDATE digests SET {sets} WHERE user_id=? AND day=?",
            (state, *cols.values(), user_id, day.isoformat()),
        )


def _claim_post(user_id: str, day: date, channel: str) -> bool:
    """Atomically move the day's post from not-posted (or failed) to "posting"."""
    with _db() as conn:
        cur = conn.execute(
            "UPDATE digests SET post_state='posting', channel=? WHERE user_id=? AND day=? "
            "AND post_state IN ('', 'failed')",
            (channel, user_id, day.isoformat()),
        )
        return cur.rowcount == 1


def _window(settings: Settings, user_id: str, day: date, tz: Any) -> tuple[float, float]:
    """(since, until) in unix seconds: from the previous digest to the end of `day`."""
    until = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()
    existing = _record(user_id, day)
    if existing:
        return float(existing["since"]), max(until, float(existing["until"]))
    with _db() as conn:
        prev = conn.execute(
            "SELECT MAX(built_at) FROM digests WHERE user_id=? AND day<?",
            (user_id, day.isoformat()),
        ).fetchone()[0]
    if prev is not None:
        return float(prev), until
    start = datetime.combine(day, datetime.min.time(), tz)
    return (start - timedelta(hours=settings.digest.first_window_hours)).timestamp(), until


def _considered_before(user_id: str, day: date) -> set[str] | None:
    """Ids every earlier digest (last 14) looked at; None when there is no earlier digest."""
    with _db() as conn:
        rows = conn.execute(
            "SELECT considered FROM digests WHERE user_id=? AND day<? ORDER BY day DESC LIMIT 14",
            (user_id, day.isoformat()),
        ).fetchall()
    if not rows:
        return None
    seen: set[str] = set()
    for (blob,) in rows:
        if blob:
            seen.update(json.loads(blob))
    return seen


def built(user_id: str, day: date) -> bool:
    """Whether `day`'s digest for `user_id` was built already."""
    return _record(user_id, day) is not None


def today(settings: Settings) -> date:
    """Today's date in the configured time zone."""
    from assistant.scheduler import zone

    return datetime.now(zone(settings)).date()


# ---- ranking ------------------------------------------------------------------------


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 for an empty or zero vector."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def rank_items(
    settings: Settings,
    items: Sequence[Any],
    *,
    embeddings: dict[str, list[float]],
    interest: Sequence[float] | None,
    now: float,
) -> list[RankedItem]:
    """Score and sort items (best first); ranks start at 1."""
    cfg = settings.digest
    half_life_s = cfg.recency_half_life_hours * 3600.0
    scored = []
    for item in items:
        vec = embeddings.get(item.id)
        relevance = max(0.0, cosine(vec, interest)) if vec is not None and interest else 0.0
        when = item.published or item.updated or now
        recency = 0.5 ** (max(0.0, now - when) / half_life_s)
        slack = min(1.0, (1.0 if item.mentions_me else 0.0) + (0.5 if item.my_thread else 0.0))
        score = (
            cfg.weight_relevance * relevance
            + cfg.weight_recency * recency
            + cfg.weight_slack * slack
        )
        scored.append((score, relevance, recency, slack, item))
    scored.sort(key=lambda s: (-s[0], s[4].id))
    return [
        RankedItem(item=it, rank=i + 1, score=sc, relevance=rel, recency=rec, slack=sl)
        for i, (sc, rel, rec, sl, it) in enumerate(scored)
    ]


def collect(settings: Settings, store: Any, *, day: date, user_id: str) -> tuple[Digest, int]:
    """Gather, rank and cut the items of `day`'s digest; (digest, items considered)."""
    from assistant.scheduler import zone

    tz = zone(settings)
    since, until = _window(settings, user_id, day, tz)
    seen = _considered_before(user_id, day)
    # An item pulled after the last digest can carry an earlier publication time (a
    # late pull): it still counts when no earlier digest looked at it.
    late = settings.digest.late_pull_hours * 3600.0 if seen is not None else 0.0
    candidates = []
    for it in store.items.list(user_id, limit=CANDIDATES, since=since - late):
        when = it.published or it.updated or since
        if when >= until:
            continue
        if when >= since or (seen is not None and it.id not in seen):
            candidates.append(it)
    embeddings = store.items.embeddings(user_id, [it.id for it in candidates]) if candidates else {}
    interest = store.profile.interest_vector(user_id)
    now = min(time.time(), until)
    ranked = rank_items(settings, candidates, embeddings=embeddings, interest=interest, now=now)
    top = ranked[: settings.digest.top_n]
    goals = [g.statement for g in store.goals.open_goals(user_id)]
    digest = Digest(day, user_id, top, goals, _last_probe(), since, until)
    digest.considered = [it.id for it in candidates]
    return digest, len(candidates)


def _last_probe() -> dict[str, Any] | None:
    try:
        from assistant.probes.history import last_result
    except ImportError:
        return None
    try:
        return last_result()
    except Exception as exc:  # noqa: BLE001 - a broken probe history must not stop the digest
        log.warning("could not read the last probe result: %s", exc)
        return None


# ---- build, write, post -------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a digest


def build_digest(
    settings: Settings,
    store: Any,
    *,
    day: date,
    user_id: str,
    post: bool,
    client: Any = None,
) -> DigestResult:
    """Build `day`'s digest for `user_id`, write Markdown and HTML, post to Slack once."""
    from assistant.digest_render import to_html, to_markdown

    digest, considered = collect(settings, store, day=day, user_id=user_id)
    folder = digests_dir()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "" if user_id == settings.feeds.owner else f"-{_slug(user_id)}"
    md_path = folder / f"{day.isoformat()}{suffix}.md"
    html_path = folder / f"{day.isoformat()}{suffix}.html"
    _write_atomic(md_path, to_markdown(digest))
    _write_atomic(html_path, to_html(digest))
    ids = json.dumps([r.item.id for r in digest.items])
    with _db() as conn:
        conn.execute(
            "INSERT INTO digests (user_id, day, since, until, built_at, item_ids, considered) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, day) DO UPDATE SET "
            "until=excluded.until, built_at=excluded.built_at, item_ids=excluded.item_ids, "
            "considered=excluded.considered",
            (
                user_id,
                day.isoformat(),
                digest.since,
                digest.until,
                time.time(),
                ids,
                json.dumps(digest.considered),
            ),
        )
    result = DigestResult(digest, md_path, html_path, "skipped: --no-post", considered)
    if post:
        result.post_status, result.slack_ts = _post_once(settings, digest, client=client)
    return result


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:64]


def slack_client(settings: Settings) -> Any:
    """A WebClient with slack-sdk's retry handlers, or None without SLACK_BOT_TOKEN."""
    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        return None
    try:
        from connectors.slack import web_client
    except ImportError:
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        client = WebClient(token=token, base_url=settings.slack.base_url)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
        return client
    return web_client(token, settings.slack.base_url)


def _post_once(settings: Settings, digest: Digest, *, client: Any = None) -> tuple[str, str]:
    from assistant.digest_render import to_blocks

    day, user_id = digest.day, digest.user_id
    target = settings.digest.slack_target
    client = client if client is not None else slack_client(settings)
    if client is None:
        return "skipped: SLACK_BOT_TOKEN is not set", ""
    if not target:
        return "skipped: digest.slack_target is not set (a channel id or a user id for a DM)", ""
    record = _record(user_id, day) or {}
    state = record.get("post_state") or ""
    if state == "posted":
        return "already posted", str(record.get("ts") or "")
    if state in ("posting", "unknown"):
        if state == "posting":
            _set_post_state(user_id, day, "unknown", detail="found unfinished post after a restart")
        log.warning(
            "the Slack post of the %s digest may or may not have gone out (a crash or timeout "
            "during posting); not posting again. Check %s and post %s by hand if it is missing",
            day,
            target,
            digests_dir() / f"{day.isoformat()}.md",
        )
        return "unknown: an earlier post may have gone out; not posting twice", ""
    text, blocks = to_blocks(digest)
    if not _claim_post(user_id, day, target):  # committed before the call
        return "already posted", ""
    try:
        response = client.chat_postMessage(
            channel=target, text=text, blocks=blocks, unfurl_links=False
        )
    except Exception as exc:  # noqa: BLE001 - decide below whether Slack accepted it
        from slack_sdk.errors import SlackApiError

        if isinstance(exc, SlackApiError):
            # Slack answered with an error: nothing was posted, a later run may retry
            error = str(exc.response.get("error", exc))
            _set_post_state(user_id, day, "failed", detail=error)
            hint = " (invite the bot to the channel)" if error == "not_in_channel" else ""
            log.error("posting the digest to %s failed: %s%s", target, error, hint)
            return f"failed: {error}{hint}", ""
        _set_post_state(user_id, day, "unknown", detail=repr(exc)[:300])
        log.error("posting the digest to %s did not complete: %r; not retrying", target, exc)
        return f"unknown: {exc}", ""
    ts = str(response.get("ts", ""))
    channel = str(response.get("channel", target))
    _set_post_state(user_id, day, "posted", channel=channel, ts=ts, slack_me=settings.slack.me)
    return "posted", ts


# ---- feedback -----------------------------------------------------------------------


def record_feedback(store: Any, *, user_id: str, item_id: str, positive: bool) -> Any:
    """Thumbs up/down on one item: feeds the user's interest vector. Returns the item."""
    item = store.items.get(user_id, item_id)
    if item is None:
        raise AssistantError(
            f"no item '{item_id}' for user {user_id}; item ids are listed in the digest"
        )
    store.profile.feedback(user_id, item_id, positive)
    return item


def _digest_for_message(channel: str, ts: str) -> tuple[str, list[str], str] | None:
    """(owner, item ids, owner's Slack id) of the digest posted as message `ts`, if any."""
    with _db() as conn:
        row = conn.execute(
            "SELECT user_id, item_ids, slack_me FROM digests WHERE ts=? AND (channel=? OR ?='')",
            (ts, channel, channel),
        ).fetchone()
    return (str(row[0]), json.loads(row[1]), str(row[2] or "")) if row else None


def _owner_slack_ids(owner: str) -> set[str]:
    with _db() as conn:
        rows = conn.execute(
            "SELECT DISTINCT slack_me FROM digests WHERE user_id=? AND slack_me!=''", (owner,)
        ).fetchall()
    return {str(r[0]) for r in rows}


def _may_give_feedback(slack_user: str, owner: str, known: set[str]) -> bool:
    # Feedback shapes the owner's interests, so only the owner gives it: by memory id, or
    # by the Slack id configured as slack.me. Without slack.me the bot's allowlist decides.
    return slack_user == owner or not known or slack_user in known


def handle_reaction(store: Any, *, user_id: str, channel: str, ts: str, reaction: str) -> list[str]:
    """A Slack reaction on a digest post becomes the digest owner's feedback.

    `user_id` is who reacted (a Slack or memory user id). A number emoji (:one: ..
    :keycap_ten:) means "more like item N". A thumbs up/down applies when the message
    carries a single item (on a many-item digest it is ambiguous: the per-item buttons
    are for that). Returns the item ids it touched; [] for other messages and emoji.
    """
    found = _digest_for_message(channel, ts)
    if found is None:
        return []
    owner, ids, slack_me = found
    if not ids or not _may_give_feedback(user_id, owner, {slack_me} - {""}):
        return []
    name = reaction.split("::")[0]  # skin tones arrive as "+1::skin-tone-2"
    if name in NUMBERS:
        index = NUMBERS.index(name)
        if index >= len(ids):
            return []
        record_feedback(store, user_id=owner, item_id=ids[index], positive=True)
        return [ids[index]]
    if name in POSITIVE or name in NEGATIVE:
        if len(ids) != 1:
            log.info("reaction :%s: on a %d-item digest is ambiguous; ignored", name, len(ids))
            return []
        record_feedback(store, user_id=owner, item_id=ids[0], positive=name in POSITIVE)
        return ids
    return []


def handle_action(store: Any, *, user_id: str, value: str) -> str:
    """A digest feedback button ("up|OWNER|ITEM_ID"); `user_id` clicked it. Returns a reply."""
    parts = value.split("|", 2)
    if len(parts) != 3 or parts[0] not in ("up", "down") or not parts[2]:
        raise ConnectorError(f"unexpected digest button value {value!r}")
    direction, owner, item_id = parts
    if not _may_give_feedback(user_id, owner, _owner_slack_ids(owner)):
        return "Only the owner of this digest can tune it."
    item = record_feedback(store, user_id=owner, item_id=item_id, positive=direction == "up")
    word = "more" if direction == "up" else "fewer"
    return f"Noted: {word} items like “{item.title}”."

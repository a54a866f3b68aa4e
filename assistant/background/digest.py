"""The daily digest: rank what arrived since the last digest, write it, post it once.

The steps live in their own modules: `digest_record` (the per-day record in SQLite),
`digest_rank` (gather and score), `digest_render` (Markdown, HTML, Slack blocks),
`digest_post` (the at-most-once Slack post) and `digest_feedback` (buttons, reactions,
`assistant digest feedback`). This module builds a day's digest from them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from assistant.background.digest_feedback import handle_action, handle_reaction, record_feedback
from assistant.background.digest_post import post_once
from assistant.background.digest_rank import Digest, RankedItem, collect
from assistant.background.digest_record import built, db, digests_dir, today
from assistant.config import Settings
from memory.interface import Memory

log = logging.getLogger(__name__)

__all__ = [
    "Digest",
    "DigestResult",
    "RankedItem",
    "build_digest",
    "built",
    "digests_dir",
    "handle_action",
    "handle_reaction",
    "record_feedback",
    "today",
]


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
        from assistant.background.digest_render import to_blocks

        return to_blocks(self.digest)[0]

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The digest as Slack Block Kit blocks."""
        from assistant.background.digest_render import to_blocks

        return to_blocks(self.digest)[1]

    def __str__(self) -> str:
        return (
            f"digest {self.digest.day} for {self.digest.user_id}: {len(self.digest.items)} of "
            f"{self.considered} items, {self.markdown_path.name}; Slack: {self.post_status}"
        )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a digest


def build_digest(
    settings: Settings,
    store: Memory,
    *,
    day: date,
    user_id: str,
    post: bool,
    client: Any = None,
    note: str = "",
) -> DigestResult:
    """Build `day`'s digest for `user_id`, write Markdown and HTML, post to Slack once."""
    from assistant.background.digest_render import to_html, to_markdown

    digest, considered = collect(settings, store, day=day, user_id=user_id)
    digest.note = note
    folder = digests_dir()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "" if user_id == settings.feeds.owner else f"-{_slug(user_id)}"
    md_path = folder / f"{day.isoformat()}{suffix}.md"
    html_path = folder / f"{day.isoformat()}{suffix}.html"
    _write_atomic(md_path, to_markdown(digest))
    _write_atomic(html_path, to_html(digest))
    ids = json.dumps([r.item.id for r in digest.items])
    with db() as conn:
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
        result.post_status, result.slack_ts = post_once(settings, digest, client=client)
    return result


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:64]

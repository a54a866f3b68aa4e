"""Posting a digest to Slack at most once per day and user.

The intent ("posting") is committed before chat.postMessage and the outcome after it.
A crash between the two leaves "posting"; the next run then does NOT post again and
logs a warning instead (the digest files are on disk either way). We chose this over
searching the channel history for our own message: a missed post is visible and
recoverable by hand, a double post is not undoable, and history search needs extra
scopes (and, for DMs, conversations.open).
"""

from __future__ import annotations

import logging
from typing import Any

from assistant.background import digest_record
from assistant.background.digest_rank import Digest
from assistant.config import Settings

log = logging.getLogger(__name__)


def post_once(settings: Settings, digest: Digest, *, client: Any = None) -> tuple[str, str]:
    """Post `digest` to digest.slack_target once; (status, message ts)."""
    from assistant.background.digest_render import to_blocks

    day, user_id = digest.day, digest.user_id
    target = settings.digest.slack_target
    if client is None:
        return "skipped: SLACK_BOT_TOKEN is not set", ""
    if not target:
        return "skipped: digest.slack_target is not set (a channel id or a user id for a DM)", ""
    record = digest_record.record(user_id, day) or {}
    state = record.get("post_state") or ""
    if state == "posted":
        return "already posted", str(record.get("ts") or "")
    if state in ("posting", "unknown"):
        if state == "posting":
            digest_record.set_post_state(user_id, day, "unknown", detail="found unfinished post after a restart")
        log.warning(
            "the Slack post of the %s digest may or may not have gone out (a crash or timeout "
            "during posting); not posting again. Check %s and post %s by hand if it is missing",
            day,
            target,
            digest_record.digests_dir() / f"{day.isoformat()}.md",
        )
        return "unknown: an earlier post may have gone out; not posting twice", ""
    text, blocks = to_blocks(digest)
    if not digest_record.claim_post(user_id, day, target):  # committed before the call
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
            digest_record.set_post_state(user_id, day, "failed", detail=error)
            hint = " (invite the bot to the channel)" if error == "not_in_channel" else ""
            log.error("posting the digest to %s failed: %s%s", target, error, hint)
            return f"failed: {error}{hint}", ""
        digest_record.set_post_state(user_id, day, "unknown", detail=repr(exc)[:300])
        log.error("posting the digest to %s did not complete: %r; not retrying", target, exc)
        return f"unknown: {exc}", ""
    ts = str(response.get("ts", ""))
    channel = str(response.get("channel", target))
    digest_record.set_post_state(user_id, day, "posted", channel=channel, ts=ts, slack_me=settings.slack.me)
    return "posted", ts

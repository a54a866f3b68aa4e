"""Digest feedback: `assistant digest feedback`, the Slack buttons and reactions.

Feedback shapes the owner's interests, so only the owner gives it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant.background import digest_record
from assistant.errors import AssistantError, ConnectorError
from memory.interface import Memory

log = logging.getLogger(__name__)

POSITIVE = {"+1", "thumbsup", "heart", "star", "white_check_mark"}
NEGATIVE = {"-1", "thumbsdown", "x"}
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten"]


def record_feedback(store: Memory, *, user_id: str, item_id: str, positive: bool) -> Any:
    """Thumbs up/down on one item: feeds the user's interest vector. Returns the item."""
    item = store.items.get(user_id, item_id)
    if item is None:
        raise AssistantError(
            f"no item '{item_id}' for user {user_id}; item ids are listed in the digest"
        )
    store.profile.feedback(user_id, item_id, positive)
    return item


def _may_give_feedback(slack_user: str, owner: str, known: set[str]) -> bool:
    # Feedback shapes the owner's interests, so only the owner gives it: by memory id, or
    # by the Slack id configured as slack.me. Without slack.me the bot's allowlist decides.
    return slack_user == owner or not known or slack_user in known


def handle_reaction(
    store: Memory, *, user_id: str, channel: str, ts: str, reaction: str, owner_ids: Sequence[str] = ()
) -> list[str]:
    """A Slack reaction on a digest post becomes the digest owner's feedback.

    `user_id` is who reacted (a Slack or memory user id). A number emoji (:one: ..
    :keycap_ten:) means "more like item N". A thumbs up/down applies when the message
    carries a single item (on a many-item digest it is ambiguous: the per-item buttons
    are for that). Returns the item ids it touched; [] for other messages and emoji.
    """
    found = digest_record.digest_for_message(channel, ts)
    if found is None:
        return []
    owner, ids, slack_me = found
    if not ids or not _may_give_feedback(user_id, owner, ({slack_me} | set(owner_ids)) - {""}):
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


def handle_action(store: Memory, *, user_id: str, value: str, owner_ids: Sequence[str] = ()) -> str:
    """A digest feedback button ("up|OWNER|ITEM_ID"); `user_id` clicked it. Returns a reply.

    `owner_ids` are the owner's Slack ids from the identity config (the bot passes the
    memory scope of the clicker as `user_id`, so the owner matches by scope)."""
    parts = value.split("|", 2)
    if len(parts) != 3 or parts[0] not in ("up", "down") or not parts[2]:
        raise ConnectorError(f"unexpected digest button value {value!r}")
    direction, owner, item_id = parts
    if not _may_give_feedback(user_id, owner, digest_record.owner_slack_ids(owner) | set(owner_ids)):
        return "Only the owner of this digest can tune it."
    item = record_feedback(store, user_id=owner, item_id=item_id, positive=direction == "up")
    word = "more" if direction == "up" else "fewer"
    return f"Noted: {word} items like “{item.title}”."

"""Conversation memory in the graph: every turn is stored as an episode, past ones recalled.

Each finished turn (the user's words and the assistant's reply) is written as two
episodes of that user in one batch, with the thread, speaker and time; ids come from the
thread and turn number, so a retried turn overwrites instead of duplicating. Before a
reply, the user's newest message searches their episodes (`MemoryStore.search`, hybrid,
dates in the message resolved against now); turns still in this thread's dialog are
skipped, and what is left reaches the model fenced as quoted data, like feed items.
Both the terminal and Slack run this graph, so both get it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assistant.graph.fencing import fence_text
from assistant.graph.state import RecalledTurn

if TYPE_CHECKING:
    from memory.interface import Memory

log = logging.getLogger(__name__)

RECALL_EPISODES = 3  # past turns shown to the model per reply (each costs ~50 tokens)
RECALL_MIN_SCORE = 0.25  # fused score below which a past turn is not worth the tokens
TURN_CHARS = 400  # a recalled turn is trimmed to this many characters
SECTION = "From earlier conversations with this user (quoted, may be outdated):"


def turn_id(thread: str, turn: int, speaker: str) -> str:
    """Stable episode id of one side of one turn."""
    return f"chat:{thread}:{turn}:{speaker}"


def recall_turns(
    store: Memory, user_id: str, text: str, thread: str, turn: int, keep_recent: int, now: float
) -> list[RecalledTurn]:
    """Past turns of this user that bear on text, minus those still in this thread's dialog."""
    if not text.strip() or not store.episodes.count(user_id):
        return []
    hits = store.search(
        user_id, text, kinds=("episodes",), k=RECALL_EPISODES + 2 * keep_recent, now=now
    )
    out: list[RecalledTurn] = []
    for h in hits:
        meta = h.metadata
        same_thread = str(meta.get("thread", "")) == thread
        said_turn = _turn_of(h.id)
        if same_thread and said_turn is not None and said_turn > turn - keep_recent - 1:
            continue  # still verbatim in the dialog
        if h.score < RECALL_MIN_SCORE * hits[0].score:
            break
        out.append(
            RecalledTurn(
                id=h.id,
                thread=str(meta.get("thread", "")),
                speaker=str(meta.get("speaker", "")),
                text=_trim(h.text),
                time=h.time,
            )
        )
        if len(out) == RECALL_EPISODES:
            break
    return out


def fenced(turns: list[RecalledTurn]) -> str:
    """The recalled turns as one context section, each fenced as quoted memory."""
    if not turns:
        return ""
    lines = [SECTION]
    for t in sorted(turns, key=lambda t: t["time"]):
        when = datetime.fromtimestamp(t["time"], UTC).strftime("%Y-%m-%d")
        lines.append(fence_text("memory", f"{when}, {t['speaker'] or 'someone'}: {t['text']}"))
    return "\n".join(lines)


def store_turn(
    store: Memory, user_id: str, thread: str, turn: int, user_text: str, reply: str, now: float
) -> None:
    """Write the user's message and the reply as episodes (one batch, durable on return)."""
    from memory.types import EpisodeIn

    rows = [
        EpisodeIn(user_text, thread=thread, speaker="user", time=now, id=turn_id(thread, turn, "user")),
        EpisodeIn(reply, thread=thread, speaker="assistant", time=now + 0.001, id=turn_id(thread, turn, "assistant")),
    ]  # fmt: skip
    store.episodes.add_many(user_id, [r for r in rows if r.text.strip()])


def _turn_of(episode_id: str) -> int | None:
    parts = episode_id.split(":")
    if len(parts) >= 4 and parts[0] == "chat" and parts[-2].isdigit():
        return int(parts[-2])
    return None


def _trim(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= TURN_CHARS else one[: TURN_CHARS - 1] + "…"

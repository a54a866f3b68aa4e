"""`/assistant` subcommands as plain functions: text in, reply text out.

Personal answers (goals, forget, digest) are ephemeral: only the asking user sees them,
even in a shared channel. Each reads or writes only the asking user's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from assistant.config import Settings
from assistant.safetext import clean
from memory.interface import Memory

HELP = (
    "*/assistant* commands:\n"
    "• `/assistant goals`: your open goals\n"
    "• `/assistant forget TEXT`: forget what I know about TEXT\n"
    "• `/assistant digest`: today's digest for you\n"
    "• `/assistant probe`: the last nightly self-probe result\n"
    "• `/assistant help`: this list\n"
    "To chat, send me a direct message or mention me in a channel."
)


@dataclass(frozen=True)
class CommandReply:
    """What to answer a slash command with."""

    text: str
    ephemeral: bool = True
    blocks: list[dict[str, Any]] | None = None


def split(text: str) -> tuple[str, str]:
    """`"forget my dog"` -> `("forget", "my dog")`."""
    # control bytes and bad JSON escapes (lone surrogates) would reach the embedder raw
    verb, _, rest = clean(text or "", 4000).strip().partition(" ")
    return verb.lower(), rest.strip()


def quick(verb: str, arg: str, *, user_id: str, store: Memory) -> CommandReply:
    """Answer the fast subcommands (all but digest) right inside the ack."""
    if verb in ("", "help"):
        return CommandReply(HELP)
    if verb == "goals":
        return goals_reply(store, user_id)
    if verb == "forget":
        return forget_reply(store, user_id, arg)
    if verb == "probe":
        return probe_reply()
    return CommandReply(f"I don't know `/assistant {verb}`.\n{HELP}")


def goals_reply(store: Memory, user_id: str) -> CommandReply:
    goals = store.goals.open_goals(user_id)
    if not goals:
        return CommandReply("You have no open goals. Tell me what you are working on.")
    lines = ["*Your open goals*"]
    for goal in goals:
        line = f"• {goal.statement} _({goal.status})_"
        if goal.missing:
            line += f"\n   still needed: {', '.join(goal.missing)}"
        lines.append(line)
    return CommandReply("\n".join(lines))


def forget_reply(store: Memory, user_id: str, what: str) -> CommandReply:
    if not what:
        return CommandReply("Tell me what to forget: `/assistant forget TEXT`.")
    gone = store.profile.forget(user_id, what)
    if not gone:
        return CommandReply(f"I had nothing about “{what}” to forget.")
    listed = "\n".join(f"• {fact.text}" for fact in gone)
    return CommandReply(f"Forgotten ({len(gone)}):\n{listed}")


def probe_reply() -> CommandReply:
    """The last nightly probe result; not personal, so the channel may see it."""
    from assistant.probes.history import last_result

    result = last_result()
    if not result:
        return CommandReply("No self-probe has run yet (`assistant probe run`).", ephemeral=False)
    stability = result.get("stability_last_round")
    shown = f"{stability:.2f}" if isinstance(stability, (int, float)) else str(stability)
    alert = " :warning: below the alert threshold" if result.get("alert") else ""
    text = f"Last self-probe ({result.get('date', '?')}): stability in the last round {shown}{alert}."
    return CommandReply(text, ephemeral=False)


def digest_reply(settings: Settings, store: Memory, user_id: str, day: date | None = None) -> CommandReply:
    """Build (without posting) the user's digest; slow, so run off the ack path."""
    from assistant.background.digest import build_digest, today

    result = build_digest(settings, store, day=day or today(settings), user_id=user_id, post=False)
    text = getattr(result, "text", None) or str(result)
    blocks = getattr(result, "blocks", None) or None
    return CommandReply(text, blocks=blocks)

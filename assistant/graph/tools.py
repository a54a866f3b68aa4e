"""Tools the user can ask for in their own words, run in code (the model never picks one).

`requested_tool` reads ONLY the user's newest message. Recalled feed items, Slack text and
stored memory never pass through it, so no external text can trigger a search, a memory
write, a post or a fetch. There is no post or fetch tool at all in the chat graph.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from assistant.config import Settings
from assistant.graph import prompts
from assistant.graph.fencing import fence_text
from assistant.graph.state import RecalledItem, ToolCall
from assistant.llm.base import ChatModel, Message
from memory.interface import Memory

log = logging.getLogger(__name__)

ToolName = Literal["search", "summarise", "digest", "remember", "forget", "list_goals"]
TOOL_NAMES: tuple[ToolName, ...] = (
    "search",
    "summarise",
    "digest",
    "remember",
    "forget",
    "list_goals",
)

_F = re.IGNORECASE
# Order matters: the first pattern that matches the user's message wins.
REQUESTS: list[tuple[ToolName, re.Pattern[str]]] = [
    (
        "list_goals",
        re.compile(
            r"^\s*/goals\b|\b(?:list|show|what are|remind me of) (?:me )?(?:all )?(?:of )?my (?:open |current )?goals\b",
            _F,
        ),
    ),
    (
        "remember",
        re.compile(
            # no "?": "remember my hour rate? I need it" asks what memory holds
            r"^\s*(?:please\s+)?(?:remember|note|keep in mind)(?: that|:|,)?\s+(?P<arg>[^?\n]{3,})(?=\n|$)",
            _F,
        ),
    ),
    (
        "forget",
        re.compile(
            r"^\s*(?:please\s+)?forget (?:that |the fact that |what i said about )?(?P<arg>(?:i\b|i'm|i am|my\b|me\b).{2,})",
            _F,
        ),
    ),
    (
        "digest",
        re.compile(
            r"\b(?:show|give|send|open|read)\b[^.?!]{0,20}\bdigest\b|^\s*(?:today'?s )?digest\s*[?!.]*$",
            _F,
        ),
    ),
    (
        "summarise",
        re.compile(
            r"\bsummari[sz]e\b(?: (?:the |my )?(?:stored |new |latest |recent )?(?:papers?|items?|messages?|posts?|threads?|feeds?))?(?: (?:about|on|for|of|matching))?\s+(?P<arg>.{2,})",
            _F,
        ),
    ),
    (
        "search",
        re.compile(
            r"\bsearch\b(?: (?:in )?(?:my |the )?(?:stored )?(?:feeds?|items|papers|slack|messages|posts))?(?: (?:for|about|on|mentioning|matching))?\s+(?P<arg>.{2,})",
            _F,
        ),
    ),
    (
        "search",
        re.compile(
            r"\b(?:find|look up|look for|show me|list)\b (?:the |any |some |my )?(?:stored |new |recent |latest )?(?:papers|items|messages|posts|threads) (?:about|on|for|mentioning|matching) (?P<arg>.{2,})",
            _F,
        ),
    ),
    (
        "search",
        re.compile(
            r"\bany (?:new |recent )?(?:papers|items|messages|posts) (?:about|on|mentioning) (?P<arg>.{2,})",
            _F,
        ),
    ),
]


def requested_tool(user_text: str) -> ToolCall | None:
    """The tool the user asked for in this message, with its argument; None if none."""
    for name, pattern in REQUESTS:
        match = pattern.search(user_text)
        if match:
            arg = match.groupdict().get("arg") or ""
            return ToolCall(name=name, arg=arg.strip().rstrip("?.! "))
    return None


def _fmt_hit(item: Any) -> str:
    link = f" <{item.url}>" if getattr(item, "url", "") else ""
    return f"- [{item.source}] {item.title}{link}"


def _search(ctx: ToolContext) -> str:
    hits = ctx.store.items.search(ctx.user_id, ctx.arg, k=5)
    if not hits:
        return prompts.TOOL_SEARCH_EMPTY.format(query=ctx.arg)
    lines = [prompts.TOOL_SEARCH_HEADER.format(query=ctx.arg)]
    lines += [_fmt_hit(item) for item, _score in hits]
    return "\n".join(lines)


def _summarise(ctx: ToolContext) -> str:
    hits = ctx.store.items.search(ctx.user_id, ctx.arg, k=3)
    if not hits:
        return prompts.TOOL_SEARCH_EMPTY.format(query=ctx.arg)
    lines = []
    for item, _score in hits:
        summary = item.summary
        if not summary:
            messages: list[Message] = [
                {"role": "system", "content": prompts.TOOL_SUMMARY_SYSTEM},
                {
                    "role": "user",
                    "content": fence_text(item.source, f"{item.title}\n{item.text[:1500]}"),
                },
            ]
            summary = ctx.llm.chat(messages, max_new_tokens=96, temperature=0.0).text.strip()
        lines.append(f"{_fmt_hit(item)}\n  {summary}")
    return "\n".join(lines)


def _digest(ctx: ToolContext) -> str:
    from assistant.background.digest import build_digest

    result = build_digest(
        ctx.settings, ctx.store, day=date.today(), user_id=ctx.user_id, post=False
    )
    path = getattr(result, "markdown_path", None)
    if path is not None and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8")
    return _newest_items(ctx)


def _newest_items(ctx: ToolContext) -> str:
    items = ctx.store.items.list(ctx.user_id, limit=ctx.settings.digest.top_n)
    if not items:
        return prompts.TOOL_DIGEST_EMPTY
    return "\n".join(_fmt_hit(item) for item in items)


def _remember(ctx: ToolContext) -> str:
    fact = ctx.store.profile.remember(ctx.user_id, ctx.arg)
    return prompts.TOOL_REMEMBERED.format(text=fact.text)


def _forget(ctx: ToolContext) -> str:
    facts = ctx.store.profile.forget(ctx.user_id, ctx.arg)
    ctx.store.episodes.forget_matching(ctx.user_id, ctx.arg)  # the turns that said it go too
    if not facts:
        return prompts.TOOL_FORGOT_NONE.format(text=ctx.arg)
    return prompts.TOOL_FORGOT.format(facts="; ".join(f.text for f in facts))


def format_goals(goals: list[Any]) -> str:
    """Goals as short lines (memory records or graph dicts)."""
    if not goals:
        return prompts.TOOL_GOALS_EMPTY
    lines = []
    for goal in goals:
        row = goal if isinstance(goal, dict) else vars(goal)
        missing = list(row.get("missing") or ())
        open_ = row.get("status") in ("active", "waiting")
        need = f" (needs: {', '.join(missing)})" if missing and open_ else ""
        lines.append(f"- [{row.get('status')}] {row.get('statement')}{need}")
    return "\n".join(lines)


def _list_goals(ctx: ToolContext) -> str:
    return format_goals(ctx.store.goals.list(ctx.user_id))


class ToolContext:
    """What a tool may touch: the user's own store scope, the model, the settings."""

    def __init__(
        self, *, llm: ChatModel, store: Memory, settings: Settings, user_id: str, arg: str
    ) -> None:
        self.llm = llm
        self.store = store
        self.settings = settings
        self.user_id = user_id
        self.arg = arg


TOOLS: dict[ToolName, Callable[[ToolContext], str]] = {
    "search": _search,
    "summarise": _summarise,
    "digest": _digest,
    "remember": _remember,
    "forget": _forget,
    "list_goals": _list_goals,
}


def run_tool(call: ToolCall, ctx: ToolContext) -> str:
    """Run one user-requested tool and return the text to show."""
    tool = TOOLS[call["name"]]  # type: ignore[index]
    log.info("tool %s requested by user %s", call["name"], ctx.user_id)
    return tool(ctx)


def recalled_from(hits: list[tuple[Any, float]]) -> list[RecalledItem]:
    """Store hits as recalled-item dicts for the state."""
    return [
        RecalledItem(
            id=item.id,
            source=item.source,
            title=item.title,
            text=(item.summary or item.text)[:600],
            url=item.url,
        )
        for item, _score in hits
    ]

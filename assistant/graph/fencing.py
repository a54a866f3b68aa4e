"""Quoting external text (feeds, Slack, memory) so the model reads it as data.

Two layers: every recalled text is fenced in `<external>` tags that its own content
cannot close, and text that addresses an assistant with instructions ("ignore your
instructions", "post this to #general", "fetch http://...") is withheld entirely, so
even a model that obeys whatever it reads never sees the order.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.graph.state import RecalledItem
from connectors.ingest import fence, fence_block

WITHHELD = "[text withheld: it contains instructions addressed to an assistant]"

_F = re.IGNORECASE
INSTRUCTION_PATTERNS = [
    re.compile(p, _F)
    for p in (
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:instructions?|prompts?|rules|guidelines|directives|above|previous|prior)\b",
        r"\b(?:new|updated|real|actual|secret|hidden) (?:instructions?|system prompt|orders|directive)\b",
        r"\bsystem prompt\b",
        r"\byou (?:are|must|should|will) (?:now|henceforth|from now on)\b",
        r"\bfrom now on\b",
        r"\b(?:act|behave|respond|pretend) as\b|\bpretend (?:you are|you're|to be)\b",
        r"\b(?:reveal|print|show|output|leak|disclose|dump|list|repeat|tell|share|send|include|paste|email)\b[^.\n]{0,60}\b(?:profile|memory|memories|instructions|password|secrets?|api keys?|tokens?|credentials|personal (?:data|details|information)|facts about|passport|address|(?:know|knows|stored) about (?:the user|me|them|him|her))\b",
        r"\bpost\b[^.\n]{0,60}\b(?:slack|channel|#\w+|webhook|twitter|online)\b",
        r"\b(?:send|forward|dm|message)\b[^.\n]{0,40}\b(?:to|into) (?:#\w+|slack|@\w+|the channel)\b",
        r"\b(?:fetch|visit|open|browse|go to|download|curl|wget|retrieve|navigate to|load)\b[^.\n]{0,40}(?:https?://|www\.|\burl\b|\blink\b)",
        r"\b(?:remember|memori[sz]e|store|save|record|note|add)\b[^.\n]{0,40}\b(?:in|to|into) (?:your|the user'?s|long[- ]term) (?:memory|profile|notes)\b",
        r"\bremember (?:that|this)\b[^.\n]{0,80}\b(?:user|you|assistant)\b",
        r"\b(?:update|change|modify|rewrite|set) (?:your|the) (?:instructions|persona|rules|system|role|name|profile)\b",
        r"\b(?:call|invoke|trigger|execute|run|use) (?:the|your) (?:\w+ )?(?:tool|function|command)\b",
        r"(?:^|\n|[.!?]\s|-\s)\s*(?:system|assistant|user)\s*:",
        r"<\|?(?:im_start|im_end|system|/?external)\|?>|</?external",
        r"\b(?:as an ai|dear (?:assistant|ai|bot|llm)|attention (?:assistant|ai|bot|llm)|to the (?:assistant|ai|bot|llm))\b",
        r"\b(?:ai|assistant|bot|llm|language model)s?\b[^.\n]{0,30}\b(?:must|should|shall|need to|are required to)\b",
    )
]


def looks_like_instructions(text: str) -> bool:
    """True when a text addresses an assistant with orders (prompt injection)."""
    return any(p.search(text) for p in INSTRUCTION_PATTERNS)


def _own_fence(item: RecalledItem) -> str:
    # for recalled records without their Item, and for items whose text must be withheld
    withheld = looks_like_instructions(item["text"] + " " + item["title"])
    title = "" if looks_like_instructions(item["title"]) else item["title"].replace("\n", " ")[:160]
    return fence_block(
        WITHHELD if withheld else item["text"], source=item["source"], id=item["id"], title=title
    )


def fence_item(item: RecalledItem, original: Any | None = None) -> str:
    """One recalled item as quoted external text; instruction-bearing text is withheld."""
    if original is None or looks_like_instructions(item["text"] + " " + item["title"]):
        return _own_fence(item)
    return fence(original)


def fence_text(source: str, text: str) -> str:
    """Any other external text (a memory entry, a Slack line) as quoted data."""
    return fence_block(WITHHELD if looks_like_instructions(text) else text, source=source)


def safe_profile_lines(lines: list[str]) -> list[str]:
    """Profile lines without any that carry instructions (stored text is data too)."""
    return [line for line in lines if line.strip() and not looks_like_instructions(line)]

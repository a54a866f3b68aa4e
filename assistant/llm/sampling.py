"""Picking the next token, and turning generated tokens into text with stop strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def pick_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Next token per row from logits (B, V): greedy at temperature 0, else nucleus sampling."""
    if temperature <= 0.0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest set whose mass reaches top_p (the top token always stays).
        drop = sorted_p.cumsum(dim=-1) - sorted_p > top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class TextTail:
    """Incremental detokenisation of one reply with stop strings.

    `push` returns text that is safe to show: held back are an unfinished UTF-8
    character and anything that could still become a stop string.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.ids: list[int] = []
        self.text = ""
        self.shown = 0
        self.stopped = False

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""  # half a multi-byte character: wait for the rest
        self.text = text
        if self.stop:
            start = max(0, self.shown - self.hold)
            hits = [i for i in (text.find(s, start) for s in self.stop) if i >= 0]
            if hits:
                self.text = text[: min(hits)]
                self.stopped = True
                return self.flush()
        safe = max(self.shown, len(text) - self.hold)
        piece = text[self.shown : safe]
        self.shown = safe
        return piece

    def flush(self) -> str:
        piece = self.text[self.shown :]
        self.shown = len(self.text)
        return piece

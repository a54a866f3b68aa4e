"""Turn messages into prompt token ids: chat template, system span, context budget.

The system span is what split-softmax boosts: "turn" is the whole rendered system turn
(template tokens and the first token, often an attention sink, included); "text" is
only the tokens of the system prompt's own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.errors import GenerationError
from assistant.llm.base import Message
from assistant.safetext import clean, has_surrogates


@dataclass
class Prompt:
    """A rendered, tokenised prompt ready for prefill."""

    ids: list[int]
    turn_span: tuple[int, int]  # tokens of the whole system turn; (0, 0) = no system prompt
    text_span: tuple[int, int]  # tokens of the system text only
    dropped_turns: int = 0  # messages left out by the context budget
    truncated_tokens: int = 0  # tokens cut from the one message that alone did not fit

    def span(self, kind: Literal["turn", "text"]) -> tuple[int, int]:
        return self.turn_span if kind == "turn" else self.text_span


def render(tokenizer: Any, messages: Sequence[Message], *, generation_prompt: bool = True) -> str:
    """The chat template's text for `messages`."""
    try:
        text = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )
    except Exception as exc:
        raise GenerationError(
            f"the model's chat template cannot render these messages ({exc}); "
            "check the roles (system/user/assistant) and their order"
        ) from exc
    return str(text)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered template text (the template already holds special tokens)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def with_repeated_system(messages: Sequence[Message]) -> list[Message]:
    """The system prompt re-inserted before every user turn after the first."""
    if not messages or messages[0]["role"] != "system":
        return list(messages)
    system = messages[0]
    out: list[Message] = [system]
    seen_user = False
    for msg in messages[1:]:
        if msg["role"] == "user":
            if seen_user:
                out.append(system)
            seen_user = True
        out.append(msg)
    return out


def without_system(messages: Sequence[Message]) -> list[Message]:
    """The unconditional conversation for classifier-free guidance."""
    return [m for m in messages if m["role"] != "system"]


def build_prompt(tokenizer: Any, messages: Sequence[Message], budget_tokens: int) -> Prompt:
    """Render and tokenise, dropping the oldest turns behind the system prompt to fit."""
    if not messages:
        raise GenerationError("no messages to answer; pass at least one user message")
    # Lone surrogates (undecodable input bytes) make the tokenizer raise a TypeError.
    msgs: list[Message] = [
        Message(role=m["role"], content=clean(m["content"])) if has_surrogates(m["content"]) else m
        for m in messages
    ]
    has_system = msgs[0]["role"] == "system"
    head = msgs[:1] if has_system else []
    rest = msgs[1:] if has_system else msgs
    dropped = 0
    while True:
        text = render(tokenizer, head + rest)
        ids = encode(tokenizer, text)
        if len(ids) <= budget_tokens or len(rest) <= 1:
            break
        # Drop one message at a time; never leave an assistant turn first after the system.
        rest = rest[1:]
        dropped += 1
        while len(rest) > 1 and rest[0]["role"] == "assistant":
            rest = rest[1:]
            dropped += 1
    truncated = 0
    if len(ids) > budget_tokens:
        rest, truncated = _shorten_last(tokenizer, head, rest, budget_tokens)
        text = render(tokenizer, head + rest)
        ids = encode(tokenizer, text)
    turn, words = (
        system_spans(tokenizer, text, ids, head[0]["content"]) if has_system else ((0, 0), (0, 0))
    )
    return Prompt(ids, turn, words, dropped, truncated)


def _shorten_last(
    tokenizer: Any, head: list[Message], rest: list[Message], budget: int
) -> tuple[list[Message], int]:
    """Keep the head of the one remaining message so system prompt + message fit."""
    fixed = len(
        encode(tokenizer, render(tokenizer, head + [{"role": rest[-1]["role"], "content": ""}]))
    )
    room = budget - fixed
    if room <= 0:
        raise GenerationError(
            f"the system prompt alone needs {fixed} of the {budget} prompt tokens; shorten it "
            "or raise model.context_tokens (or lower max_new_tokens)"
        )
    content = encode(tokenizer, rest[-1]["content"])
    kept = tokenizer.decode(content[: max(room - 2, 1)])  # 2 tokens slack for re-tokenisation
    return [{"role": rest[-1]["role"], "content": kept}], len(content) - max(room - 2, 1)


def system_spans(
    tokenizer: Any, text: str, ids: list[int], system_text: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Token spans of the whole system turn and of the system text inside `text`."""
    first_turn = encode(
        tokenizer,
        render(tokenizer, [{"role": "system", "content": system_text}], generation_prompt=False),
    )
    end = 0
    for a, b in zip(first_turn, ids, strict=False):
        if a != b:
            break
        end += 1
    turn = (0, end)
    start_char = text.find(system_text) if system_text else -1
    if start_char < 0:
        return turn, turn
    stop_char = start_char + len(system_text)
    try:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
    except (NotImplementedError, ValueError, KeyError):
        return turn, turn  # slow tokenizers have no offsets: fall back to the whole turn
    inside = [i for i, (a, b) in enumerate(offsets) if b > start_char and a < stop_char and i < end]
    if not inside:
        return turn, turn
    return turn, (inside[0], inside[-1] + 1)

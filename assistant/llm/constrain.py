"""JSON that always fits a schema: a grammar mask on the logits at each decoding step.

`constrained_chat(llm, messages, schema)` asks the local engine for a reply whose tokens
are limited, step by step, to those that keep the text a valid instance of a JSON schema
(llguidance compiles the schema to a grammar and computes the allowed-token mask). With
any other chat model (a scripted fake, a remote API) it is a plain `chat` call and the
caller's validation and retry stay the safety net.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch

from assistant.errors import GenerationError
from assistant.llm.base import ChatResult, Message

_LOCK = threading.Lock()
_TOKENIZERS: dict[int, Any] = {}  # id(HF tokenizer) -> llguidance tokenizer (about 1 s to build)


def _ll_tokenizer(llm: Any) -> Any:
    key = id(llm.tokenizer)
    with _LOCK:
        if key not in _TOKENIZERS:
            from llguidance.hf import from_tokenizer

            eos: list[int] = []
            for source in (
                getattr(getattr(llm, "model", None), "generation_config", None),
                llm.tokenizer,
            ):
                ids = getattr(source, "eos_token_id", None)
                eos += [ids] if isinstance(ids, int) else list(ids or [])
            _TOKENIZERS[key] = from_tokenizer(llm.tokenizer, eos_token=sorted(set(eos)) or None)
        return _TOKENIZERS[key]


class JsonSchemaHook:
    """A logits hook (see `Engine.chat`) that allows only tokens continuing valid JSON.

    The mask is filled by llguidance into a preallocated bitmask and applied in place by
    its torch helper (no per-step numpy unpacking of the vocabulary); once the JSON is
    complete the grammar allows only end-of-sequence, so decoding stops there.
    `steps` and `seconds` (time spent in the hook) are kept for the bench.
    """

    def __init__(self, llm: Any, schema: dict[str, Any]) -> None:
        from llguidance import LLMatcher
        from llguidance.torch import allocate_token_bitmask

        self.schema = schema
        tokenizer = _ll_tokenizer(llm)
        grammar = LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False}
        )
        self._matcher = LLMatcher(tokenizer, grammar, log_level=0)
        if self._matcher.is_error():
            raise GenerationError(
                f"the JSON schema cannot be used to constrain decoding: {self._matcher.get_error()}"
            )
        self._bitmask = allocate_token_bitmask(1, tokenizer.vocab_size)
        self._seen = 0
        self.steps = 0
        self.seconds = 0.0

    def __call__(self, generated: list[list[int]], logits: torch.Tensor) -> torch.Tensor:
        from llguidance.torch import apply_token_bitmask_inplace, fill_next_token_bitmask

        started = time.perf_counter()
        tokens = generated[0]  # one reply per constrained call
        if len(tokens) > self._seen:
            self._matcher.consume_tokens(tokens[self._seen :])
        self._seen = len(tokens)
        if self._matcher.is_error():
            return logits  # cannot happen for tokens the mask allowed; the caller validates anyway
        fill_next_token_bitmask(self._matcher, self._bitmask, 0)
        out = logits.float() if logits.dtype != torch.float32 else logits.clone()
        # ids past the tokenizer's vocabulary (a padded embedding) are masked by the helper
        apply_token_bitmask_inplace(out, self._bitmask.expand(out.shape[0], -1).contiguous())
        self.steps += 1
        self.seconds += time.perf_counter() - started
        return out


def supports_hooks(llm: Any) -> bool:
    """True for the local engine (its `chat` takes a logits hook and it has a tokenizer)."""
    chat = getattr(llm, "chat", None)
    if chat is None or getattr(llm, "tokenizer", None) is None:
        return False
    try:
        return "logits_hook" in inspect.signature(chat).parameters
    except (TypeError, ValueError):
        return False


def constrained_chat(
    llm: Any,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
) -> ChatResult:
    """One reply that is schema-valid JSON when the model is the local engine (see module doc)."""
    if not supports_hooks(llm):
        result: ChatResult = llm.chat(messages, max_new_tokens=max_new_tokens, temperature=temperature)
        return result
    hook = JsonSchemaHook(llm, schema)
    result = llm.chat(
        messages, max_new_tokens=max_new_tokens, temperature=temperature, logits_hook=hook
    )
    return result

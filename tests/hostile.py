"""Hostile text for fuzz tests and the fault bench: hypothesis strategies and a real tokenizer.

`hostile_text()` draws what a user can type or paste, or a Slack event or feed can carry:
random bytes decoded the way Python decodes undecodable input (lone surrogates), control
characters, ANSI escapes, unusual Unicode (bidi overrides, zero-width, combining marks,
astral planes) and very long lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from assistant.llm.base import Message
from tests.fakes import ScriptedChatModel

SAMPLES = [
    "\x00",
    "\x1b[2J\x1b[31mred\x07",
    "\x1b]0;owned\x07",  # retitles a terminal window
    "\ud800",
    "\udcff\udcfe",
    "\u202eevil\u202c",
    "a\u200b\u200cb\ufeff",
    "e\u0301\u0301\u0301",
    "\U0001f600\U0010ffff",
    "ＩＧＮＯＲＥ",
    "\r\n\r",
    "\x85\x9b31m",
    "/thread ../../etc",
    "/forget \x00\ud800",
]


def _from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Any text a hostile user or feed can produce (long lines come from `long_line`)."""
    return st.one_of(
        st.binary(max_size=max_size).map(_from_bytes),
        st.text(
            alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None),
            max_size=max_size,
        ),
        st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=6).map("".join),
    )


def long_line(size: int = 1 << 20) -> str:
    """A line of about `size` characters mixing text, controls and surrogates."""
    unit = "word \x1b[0m\x00 \ud800 é "
    return (unit * (size // len(unit) + 1))[:size]


@lru_cache(maxsize=1)
def byte_tokenizer() -> Any:
    """A real fast (Rust) byte-level tokenizer: same input checks as the model's own."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


class TokenizingModel(ScriptedChatModel):
    """A scripted model that first tokenizes its prompt like the real engine does.

    The real tokenizer raises a TypeError on lone surrogates; routing tests with this
    model catch text that would crash the real engine, without loading a model.
    """

    def _next(self, messages: Sequence[Message]) -> str:
        tok = byte_tokenizer()
        for m in messages:
            tok(m["content"], add_special_tokens=False)
        return super()._next(messages)

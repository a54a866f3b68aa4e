"""The engine's public interface: messages in, text out, with a drift control per request.

Everything that talks to a language model (the goal graph, the summariser, the probes,
the Slack bot) codes against `ChatModel`; tests may pass a scripted stand-in that
implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

Role = Literal["system", "user", "assistant"]
ControlKind = Literal["none", "split_softmax", "instaboost", "repeat_system", "cfg"]
Priority = Literal["interactive", "background"]
# Called before each token is picked: (every row's tokens so far, logits (B, V)) -> logits.
LogitsHook = Callable[[list[list[int]], Any], Any]


class Message(TypedDict):
    """One chat turn, as chat templates expect it."""

    role: Role
    content: str


@dataclass(frozen=True)
class DriftControl:
    """How to keep the model on its system prompt for one request."""

    kind: ControlKind = "none"
    k: float = 0.5  # split_softmax: exponent on the system prompt's attention share
    layers: tuple[int, ...] = ()  # split_softmax: layers to patch; () = all
    span: Literal["turn", "text"] = "text"  # split_softmax: system text only (the measured default) or whole turn
    guidance: float = 1.5  # cfg: guidance scale g
    # instaboost: the span's attention weights times this before renormalising (1 = stock);
    # span and layers as for split_softmax.
    boost: float = 1.0
    # split_softmax / instaboost: also repeat the system prompt before every later user turn
    # (as repeat_system does); the span is the first copy's.
    repeat_system: bool = False

    @property
    def reweights_span(self) -> bool:
        """The control changes attention on a span of the system prompt (needs a split spec)."""
        return self.kind in ("split_softmax", "instaboost")


@dataclass
class ChatResult:
    """A finished reply with token counts and timings."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    finish_reason: Literal["stop", "length", "cancelled"] = "stop"
    dropped_turns: int = 0  # turns folded away by the context budget
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class ChatModel(Protocol):
    """What the rest of the assistant needs from a language model."""

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
    ) -> ChatResult:
        """Generate one reply (None arguments fall back to config defaults)."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
    ) -> Iterator[str]:
        """Yield the reply in text pieces; joined they equal `chat(...).text`."""
        ...

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        control: DriftControl | None = None,
        priority: Priority = "background",
    ) -> list[ChatResult]:
        """Generate replies for several conversations in one batch."""
        ...

"""Stand-ins that implement real interfaces, for routing tests (never for capability tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from assistant.llm.base import ChatResult, DriftControl, Message, Priority

Responder = Callable[[Sequence[Message]], str]


class ScriptedChatModel:
    """A ChatModel that answers from a script: a list of replies or a function of the messages.

    Every call is recorded in `calls` so tests can assert what the model was shown.
    """

    def __init__(self, replies: Sequence[str] | Responder = ("ok",)) -> None:
        self._replies = replies
        self._index = 0
        self.calls: list[list[Message]] = []

    def _next(self, messages: Sequence[Message]) -> str:
        self.calls.append([dict(m) for m in messages])  # type: ignore[misc]
        if callable(self._replies):
            return self._replies(messages)
        reply = self._replies[min(self._index, len(self._replies) - 1)]
        self._index += 1
        return reply

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
        text = self._next(messages)
        return ChatResult(text=text, completion_tokens=len(text.split()))

    def stream(self, messages: Sequence[Message], **kwargs: object) -> Iterator[str]:
        text = self._next(messages)
        for i, word in enumerate(text.split(" ")):
            yield word if i == 0 else " " + word

    def chat_batch(
        self, conversations: Sequence[Sequence[Message]], **kwargs: object
    ) -> list[ChatResult]:
        return [self.chat(c) for c in conversations]

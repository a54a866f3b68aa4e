"""Embeddings and the chat model share the process's one torch thread (one OpenMP pool)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from assistant.llm.gate import shared_gate
from memory import embeddings


def test_embeddings_run_on_the_shared_torch_thread_not_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = embeddings.shared_model()
    real = model.encode
    real_direct = embeddings.Encoder.__call__
    threads: list[int] = []

    def encode(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    def direct(self: embeddings.Encoder, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real_direct(self, *args, **kwargs)

    monkeypatch.setattr(model, "encode", encode)  # whichever path the model takes
    monkeypatch.setattr(embeddings.Encoder, "__call__", direct)
    embedder = embeddings.Embedder()
    one = embedder.embed(["where is the lighthouse"])  # a query: interactive
    many = embedder.embed([f"abstract number {i}" for i in range(embeddings.CHUNK + 3)])
    torch_thread = shared_gate().run(threading.get_ident)
    assert one.shape == (1, embedder.dim) and many.shape == (embeddings.CHUNK + 3, embedder.dim)
    assert len(threads) == 3  # the bulk embed went in two background chunks
    assert set(threads) == {torch_thread} != {threading.get_ident()}

"""Interactive requests during background batches, on a tiny random Llama."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any

import pytest
import torch

from assistant.llm.base import DriftControl, Message
from assistant.llm.engine import Engine
from tests.llm.conftest import make_engine

NONE = DriftControl(kind="none")


def convo(user: str) -> list[Message]:
    return [
        {"role": "system", "content": "You are Ada, a concise assistant."},
        {"role": "user", "content": user},
    ]


class ForwardLog:
    """Which thread ran each forward, and whether it was background work."""

    def __init__(self, engine: Engine) -> None:
        self.forwards: list[tuple[int, bool]] = []  # (thread ident, background)
        forward = engine._forward  # every model forward and lean decode step goes through it

        def recorded(job: Any, spec: Any, **inputs: Any) -> torch.Tensor:
            self.forwards.append((threading.get_ident(), job.priority == "background"))
            return forward(job, spec, **inputs)

        engine._forward = recorded  # type: ignore[method-assign]


def start_batch(engine: Engine, rows: int, tokens: int) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.extend(
            engine.chat_batch(
                [convo(f"Summarise item {i}.") for i in range(rows)],
                max_new_tokens=tokens,
                temperature=0.0,
                control=NONE,
            )
        )
    )
    worker.start()
    return worker, results


def test_a_chat_during_a_batch_runs_inside_it_on_the_one_model_thread(
    smol_tokenizer: Any,
) -> None:
    engine = make_engine(smol_tokenizer)
    log = ForwardLog(engine)
    worker, results = start_batch(engine, rows=4, tokens=300)
    while not log.forwards:
        time.sleep(0.01)
    time.sleep(0.2)  # the batch is decoding now
    chat = engine.chat(convo("Quick!"), max_new_tokens=4, temperature=0.0, control=NONE)
    assert worker.is_alive()  # served before the batch finished
    worker.join()
    assert len(results) == 4 and chat.completion_tokens == 4
    assert chat.extra["queue_s"] < 1.0
    threads = {ident for ident, _ in log.forwards}
    assert len(threads) == 1  # one torch thread pool for all model work
    assert threads.isdisjoint({worker.ident, threading.get_ident()})
    background = [b for _, b in log.forwards]
    chat_at = background.index(False)
    assert background[chat_at : chat_at + 4] == [False] * 4  # the chat's 4 forwards in one go
    assert any(background[:chat_at]) and any(background[chat_at + 4 :])  # inside the batch


def test_closing_a_stream_frees_the_model_for_the_next_request(smol_tokenizer: Any) -> None:
    engine = make_engine(smol_tokenizer)
    log = ForwardLog(engine)
    stream = engine.stream(convo("Tell me a story."), max_new_tokens=2000, temperature=0.0)
    assert isinstance(stream, Generator)
    next(stream)
    stream.close()
    began = time.perf_counter()
    engine.chat(convo("Hi"), max_new_tokens=2, temperature=0.0)
    assert time.perf_counter() - began < 5.0
    assert len(log.forwards) < 1000  # the closed stream stopped long before its 2000 tokens


def test_an_error_on_the_model_thread_reaches_the_caller(
    smol_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(smol_tokenizer)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("forward failed")

    with monkeypatch.context() as patch:
        patch.setattr(engine.model, "forward", broken)
        with pytest.raises(RuntimeError, match="forward failed"):
            engine.chat(convo("Hi"), max_new_tokens=2, temperature=0.0)
        with pytest.raises(RuntimeError, match="forward failed"):
            list(engine.stream(convo("Hi"), max_new_tokens=2, temperature=0.0))
    assert engine.chat(convo("Hi"), max_new_tokens=2, temperature=0.0).completion_tokens == 2


def test_the_model_thread_uses_the_callers_torch_thread_count(tiny_engine: Engine) -> None:
    torch.set_num_threads(1)  # the autouse fixture restores the count afterwards
    tiny_engine.chat(convo("Hi"), max_new_tokens=1, temperature=0.0)
    assert tiny_engine.gate.run(torch.get_num_threads) == 1


def test_every_engine_queues_on_the_process_torch_thread(smol_tokenizer: Any) -> None:
    from assistant.llm.gate import shared_gate
    from tests.llm.conftest import make_engine

    first, second = make_engine(smol_tokenizer), make_engine(smol_tokenizer)
    assert first.gate is second.gate is shared_gate()  # one thread, one OpenMP pool

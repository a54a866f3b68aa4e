"""Model builds take turns: from_pretrained in two threads at once gave the chat model meta tensors."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.llm.build_lock import MODEL_BUILD


def _recording(seen: list[bool]) -> Any:
    def build(*args: Any, **kwargs: Any) -> Any:
        seen.append(MODEL_BUILD.locked())
        raise RuntimeError("stop here")  # the test only needs to see the lock

    return build


def test_the_chat_models_build_holds_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import transformers

    from assistant.llm import loader

    seen: list[bool] = []
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: None)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", _recording(seen))
    with pytest.raises(RuntimeError, match="stop here"):
        loader._load_folder(tmp_path, "float32")  # type: ignore[arg-type]
    assert seen == [True]
    assert not MODEL_BUILD.locked()  # given back on the error too


def test_the_embedders_build_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from memory import embeddings

    seen: list[bool] = []
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", _recording(seen))
    with pytest.raises(RuntimeError, match="stop here"):
        embeddings.Encoder.from_folder(embeddings.resolve_model(""), "float32")
    assert seen == [True]
    assert not MODEL_BUILD.locked()


def test_a_build_that_waited_for_the_lock_still_shows_no_progress_bar() -> None:
    # the embedder's build ended while the chat model's waited: turning bars off outside
    # the lock let the first build's exit turn them back on for the second (seen on a warm
    # start: "Loading weights: 100%|...| 272/272" in the terminal)
    from transformers.utils import logging as hf_logging

    from assistant.llm.build_lock import building

    hf_logging.enable_progress_bar()
    first_in, second_bars = threading.Event(), []

    def first() -> None:
        with building():
            first_in.set()
            time.sleep(0.2)

    def second() -> None:
        first_in.wait()
        with building():
            second_bars.append(hf_logging.is_progress_bar_enabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert second_bars == [False]
    assert hf_logging.is_progress_bar_enabled()  # as it was before either build

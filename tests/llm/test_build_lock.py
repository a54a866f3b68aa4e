"""Model builds take turns: from_pretrained in two threads at once gave the chat model meta tensors."""

from __future__ import annotations

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

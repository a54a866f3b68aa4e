"""The first reply's parts load beside the chat model (App.warm_up), once, and only for the real parts."""

from __future__ import annotations

from pathlib import Path

from assistant.app import App
from assistant.config import Settings


def test_warm_up_loads_the_nlp_pipeline_and_the_embedder(home: Path) -> None:
    from memory import embeddings, understand

    app = App(Settings())
    thread = app.warm_up()
    assert thread is not None
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert understand.pipeline.cache_info().currsize == 1  # loaded: the first reply reuses it
    assert embeddings.resolve_model("") in embeddings._encoders


def test_no_warm_up_with_scripted_parts(home: Path) -> None:
    app = App(Settings(), llm_factory=lambda: None)  # type: ignore[arg-type,return-value]
    assert app.warm_up() is None

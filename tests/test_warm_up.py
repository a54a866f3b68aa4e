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


def test_the_chat_model_loads_on_one_thread_beside_the_warm_up(home: Path, monkeypatch) -> None:
    # Two OpenMP threads beside a busy warm-up thread waited on each other at every op.
    import threading

    import torch

    from assistant import app as app_module
    from assistant.llm.gate import shared_gate

    before = shared_gate().run(torch.get_num_threads)  # the model thread starts before the patch
    release = threading.Event()
    seen: list[int] = []
    app = App(Settings())
    monkeypatch.setattr(app_module.threading, "Thread", _held_thread(release))
    monkeypatch.setattr(
        app_module, "load_llm", lambda s: seen.append(shared_gate().run(torch.get_num_threads))
    )
    thread = app.warm_up()
    assert thread is not None and thread.is_alive()
    app.llm  # noqa: B018
    release.set()
    thread.join(timeout=60)
    assert seen == [1]
    assert shared_gate().run(torch.get_num_threads) == before  # given back afterwards


def test_without_a_warm_up_the_chat_model_loads_on_every_thread(home: Path, monkeypatch) -> None:
    import torch

    from assistant import app as app_module
    from assistant.llm.gate import shared_gate

    seen: list[int] = []
    monkeypatch.setattr(
        app_module, "load_llm", lambda s: seen.append(shared_gate().run(torch.get_num_threads))
    )
    App(Settings()).llm  # noqa: B018
    assert seen == [shared_gate().run(torch.get_num_threads)]


def _held_thread(release):  # type: ignore[no-untyped-def]
    """A Thread class whose target waits for `release` first (the warm-up still running)."""
    import threading

    class Held(threading.Thread):
        def run(self) -> None:
            release.wait(timeout=60)
            super().run()

    return Held

"""The first reply's parts load beside the chat model (App.warm_up), once, and only for the real parts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.app import App
from assistant.config import Settings
from tests.fakes import ScriptedChatModel

REPLY = "I can help you plan your goals and keep track of them."


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


# ---- the embedder loads beside the chat model, and a failed or slow warm-up is harmless ----


@pytest.fixture
def fresh_encoder() -> Iterator[str]:
    """No embedder loaded in this process yet; the process's one comes back after."""
    from memory import embeddings

    key = embeddings.resolve_model("")
    saved = dict(embeddings._encoders)
    embeddings._encoders.clear()
    yield key
    embeddings._encoders.clear()
    embeddings._encoders.update(saved)


def test_the_embedder_loads_while_the_torch_thread_is_busy(home: Path, fresh_encoder: str) -> None:
    # A first start keeps the torch thread converting the chat model for seconds; queued
    # behind that, the embedder was ready only after the model.
    import threading

    from assistant.llm.gate import shared_gate
    from memory import embeddings

    thread = App(Settings()).warm_up()
    assert thread is not None
    release = threading.Event()
    busy = shared_gate().submit(lambda: release.wait(timeout=300))  # the model's load, say
    try:
        thread.join(timeout=240)
        assert not thread.is_alive(), "the warm-up waited for the torch thread"
        encoder = embeddings._encoders.get(fresh_encoder)
        assert encoder is not None and encoder.packed is not None
    finally:
        release.set()
        busy.result(timeout=60)
    got = embeddings.Embedder().embed(["where is the lighthouse", "ok"])  # usable on the gate
    assert got.shape == (2, 384)


def test_the_warm_up_leaves_the_torch_threads_as_they_were(
    home: Path, fresh_encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import torch

    from assistant import app as app_module
    from assistant.llm.gate import shared_gate

    monkeypatch.setattr(app_module, "load_llm", lambda s: ScriptedChatModel())
    before = shared_gate().run(torch.get_num_threads)
    app = App(Settings())
    thread = app.warm_up()
    assert thread is not None
    app.llm  # noqa: B018 - loads beside the warm-up, on one thread
    thread.join(timeout=240)
    assert shared_gate().run(torch.get_num_threads) == before
    seen: list[int] = []  # what a thread starting torch now takes (the process default)
    probe = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    assert seen == [before]


def _chat(app: App, text: str) -> str:
    from assistant.graph.terminal import run_chat

    out = io.StringIO()
    run_chat(app, user_id="local", thread_id="main", stdin=io.StringIO(f"{text}\n/quit\n"), out=out)
    return out.getvalue()


def test_the_chat_replies_when_the_warm_up_fails(
    home: Path, fresh_encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant import app as app_module
    from memory import embeddings

    real = embeddings.shared_encoder
    failed: list[bool] = []

    def flaky(name: str = "", *, here: bool = False) -> embeddings.Encoder | None:
        if here:  # the warm-up's load fails (a transient error)
            failed.append(True)
            raise OSError("disk hiccup")
        return real(name)

    monkeypatch.setattr(embeddings, "shared_encoder", flaky)
    monkeypatch.setattr(app_module, "load_llm", lambda s: ScriptedChatModel([REPLY]))
    with App(Settings()) as app:
        shown = _chat(app, "Hi! What can you help me with?")
    assert failed == [True]
    assert REPLY in shown and "error" not in shown  # the first reply loaded it again
    assert embeddings._encoders.get(fresh_encoder) is not None


def test_a_broken_embedder_is_one_error_line_and_the_chat_goes_on(
    home: Path, fresh_encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant import app as app_module
    from assistant.errors import ModelLoadError
    from memory import embeddings

    def broken(name: str = "", *, here: bool = False) -> embeddings.Encoder | None:
        raise ModelLoadError("embedding model 'x' could not be loaded (truncated weights)")

    monkeypatch.setattr(embeddings, "shared_encoder", broken)
    monkeypatch.setattr(app_module, "load_llm", lambda s: ScriptedChatModel([REPLY]))
    with App(Settings()) as app:
        shown = _chat(app, "Hi! What can you help me with?")
    errors = [line for line in shown.splitlines() if "error" in line]
    assert len(errors) == 1 and "could not be loaded" in errors[0], shown
    assert shown.index(errors[0]) < shown.rindex("/quit")  # the chat read on after it


def test_a_slow_warm_up_is_waited_for_and_loads_each_part_once(
    home: Path, fresh_encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from assistant import app as app_module
    from memory import embeddings

    real = embeddings.shared_encoder
    loads: list[bool] = []
    real_load = embeddings.Encoder.from_folder
    made: list[str] = []

    def counted(folder: str, precision: str) -> embeddings.Encoder | None:
        made.append(folder)
        return real_load(folder, precision)

    monkeypatch.setattr(embeddings.Encoder, "from_folder", staticmethod(counted))

    def slow(name: str = "", *, here: bool = False) -> embeddings.Encoder | None:
        loads.append(here)
        if here:
            time.sleep(2)  # still loading when the chat model is ready
        return real(name, here=here)

    monkeypatch.setattr(embeddings, "shared_encoder", slow)
    monkeypatch.setattr(app_module, "load_llm", lambda s: ScriptedChatModel([REPLY]))
    with App(Settings()) as app:
        shown = _chat(app, "Hi! What can you help me with?")
    assert REPLY in shown and "error" not in shown
    assert loads[0] is True and made == [fresh_encoder]  # loaded once, by the warm-up
    assert embeddings._encoders.get(fresh_encoder) is not None


def test_the_warm_up_loads_the_embedder_while_this_thread_imports_the_engine(
    tmp_path: Path,
) -> None:
    # In a fresh process, as in `assistant chat`: the chat model's import (transformers)
    # ran beside the warm-up's, and the warm-up failed with "cannot import name 'AutoModel'".
    import subprocess
    import sys

    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
        "import torch\n"
        "from assistant.app import App\n"
        "from assistant.config import Settings\n"
        "from memory import embeddings, understand\n"
        "understand.pipeline()\n"  # loaded: the warm-up goes straight to the embedder
        "assert 'transformers' not in sys.modules\n"
        "thread = App(Settings()).warm_up()\n"
        "import assistant.llm.engine\n"
        "thread.join(timeout=300)\n"
        "print(embeddings._encoders.get(embeddings.resolve_model('')) is not None)\n"
    )
    repo = Path(__file__).resolve().parents[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(repo),
        "HF_HUB_OFFLINE": "1",
        "ASSISTANT_HOME": str(tmp_path / "home"),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=400, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warm-up failed" not in done.stderr, done.stderr[-2000:]
    assert done.stdout.strip() == "True"

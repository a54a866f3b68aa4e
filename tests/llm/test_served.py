"""The model tier on Ray Serve: two replicas of the bundled engine behind ChatModel, each
honouring the per-request drift control exactly as the engine in this process does."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.llm.base import DriftControl, Message

pytestmark = pytest.mark.slow

MESSAGES: list[Message] = [
    {"role": "system", "content": "You are Ada. Always answer in French, in one short sentence."},
    {"role": "user", "content": "Tell me about the weather today."},
    {"role": "assistant", "content": "It is sunny and warm."},
    {"role": "user", "content": "What should I wear for a walk in the park this afternoon?"},
]
CONTROLS = {"none": DriftControl("none"), "split": DriftControl("split_softmax", k=0.5)}
# one torch thread per engine: two replicas and this process share 2 cores
SETTINGS = Settings.model_validate(
    {"model": {"threads": 1, "serving": "ray_serve", "serve_replicas": 2}}
)


@pytest.fixture(scope="module")
def served(model_cache_dir: Path) -> Iterator[object]:
    ray = pytest.importorskip("ray", reason="Ray Serve is not installed (pip install 'ray[serve]')")
    from assistant.llm import served

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield served.served_model(SETTINGS, cache_dir=model_cache_dir)
    finally:
        served.shutdown()
        ray.shutdown()


@pytest.fixture
def local_engine(model_cache_dir: Path) -> Iterator[object]:
    """The engine in this process with the replicas' settings; model.threads changes
    process-wide thread settings, which are put back for the tests that follow."""
    import torch

    from assistant import runtime_env
    from assistant.llm.engine import load_engine

    threads, adaptive = torch.get_num_threads(), runtime_env.adaptive()
    try:
        yield load_engine(SETTINGS, cache_dir=model_cache_dir)
    finally:
        runtime_env.set_adaptive(adaptive)
        torch.set_num_threads(threads)


def test_two_served_replicas_honour_the_drift_control_like_the_engine(
    served: object, local_engine: Any
) -> None:
    from assistant.llm.served import PID_KEY, ServedChatModel

    assert isinstance(served, ServedChatModel)
    local = local_engine
    expected = {
        name: local.chat(MESSAGES, temperature=0.0, max_new_tokens=16, control=c).text
        for name, c in CONTROLS.items()
    }
    assert expected["none"] != expected["split"]  # the control changes this reply
    with ThreadPoolExecutor(6) as pool:  # concurrent: both replicas get work, engines batch it
        results = list(pool.map(
            lambda name: (name, served.chat(MESSAGES, temperature=0.0, max_new_tokens=16, control=CONTROLS[name])),
            ["none", "split"] * 6,
        ))  # fmt: skip
    by_replica: dict[float, dict[str, set[str]]] = {}
    for name, result in results:
        by_replica.setdefault(result.extra[PID_KEY], {}).setdefault(name, set()).add(result.text)
    assert len(by_replica) == 2, "both replicas answered"
    for answers in by_replica.values():
        for name, texts in answers.items():
            assert texts == {expected[name]}, (name, texts, expected[name])
    streamed = "".join(served.stream(MESSAGES, temperature=0.0, max_new_tokens=16, control=CONTROLS["split"]))
    assert streamed == expected["split"]

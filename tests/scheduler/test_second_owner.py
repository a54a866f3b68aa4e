"""A second `assistant run` on a data directory someone owns: its error, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.background.jobs import Runtime
from assistant.background.service import run_service
from assistant.config import Settings
from assistant.errors import StoreLockedError
from memory.lock import StoreLock


def test_second_run_fails_fast_without_saying_stopped_cleanly(home: Path) -> None:
    folder = home / "chroma"
    folder.mkdir(parents=True)
    owner = StoreLock(folder)
    owner.acquire()

    def no_model() -> None:
        pytest.fail("the model loaded before the store was opened")

    lines: list[str] = []
    runtime = Runtime(Settings(), llm_factory=no_model)
    try:
        with pytest.raises(StoreLockedError):
            run_service(Settings(), echo=lines.append, runtime=runtime, install_signals=False)
    finally:
        owner.release()
    assert not any("stopped cleanly" in line for line in lines)

"""Fixtures for memory tests: a real Chroma store in a temporary folder, the real embedding model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import MemorySettings, Settings
from memory.store import MemoryStore, open_store

REPO = Path(__file__).resolve().parents[2]


def make_settings(**memory: object) -> Settings:
    """Default settings with some memory fields changed."""
    return Settings(memory=MemorySettings(**memory))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Embed on one thread here: on a shared 2-core machine two spinning threads run ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "chroma"


@pytest.fixture
def store(store_path: Path) -> Iterator[MemoryStore]:
    """An open embedded store in a fresh folder (closed after the test)."""
    with open_store(Settings(), path=store_path) as s:
        yield s


def run_python(
    code: str, *, timeout: float = 120.0, **popen: object
) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter of this venv (a separate process, like a second program)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
        **popen,
    )  # type: ignore[call-overload]


def python_popen(code: str, stdin: int | None = None) -> subprocess.Popen[str]:
    """Start a snippet in a fresh interpreter; stdout and stderr are pipes."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def reap(child: subprocess.Popen[str]) -> None:
    """Kill -9 a snippet still running, wait for it and close its pipes."""
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for pipe in (child.stdout, child.stderr):
        if pipe is not None:
            pipe.close()

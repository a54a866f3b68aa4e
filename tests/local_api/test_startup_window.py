"""While `assistant run` is starting (it owns the data directory, its socket is not open
yet), a command waits for it, bounded, and never tells the person to stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.background.jobs import Runtime
from assistant.background.service import run_service
from assistant.config import Settings
from assistant.local_api.client import ServiceStarting, connect
from assistant.local_api.starting import STARTING_FILE
from memory.store import open_store
from tests.graph.conftest import scripted
from tests.local_api.test_service_api import ROOT


def test_a_command_run_while_the_service_starts_waits_and_then_runs_there(home: Path) -> None:
    settings = Settings()
    go = threading.Event()
    opened: list[object] = []

    def slow_store() -> object:
        store = open_store(settings)  # the service takes the store first, as it does for real
        opened.append(store)
        go.wait(60)  # the rest of a slow start (the model, the scheduler) before the socket opens
        return store

    runtime = Runtime(settings, llm_factory=lambda: scripted(replies=lambda m: "Sure."), store_factory=slow_store)
    stop = threading.Event()
    lines: list[str] = []
    thread = threading.Thread(
        target=run_service,
        kwargs={"settings": settings, "echo": lines.append, "stop": stop, "runtime": runtime,
                "specs": [], "install_signals": False, "load_model": False},
        daemon=True,
    )  # fmt: skip
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (opened and (home / STARTING_FILE).exists()):
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ASSISTANT"))}
        env.update(ASSISTANT_HOME=str(home), COLUMNS="200", PYTHONPATH=str(ROOT))
        goals = subprocess.Popen(
            [sys.executable, "-m", "assistant", "goals"], cwd=home.parent / "cwd", env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert goals.stderr is not None
        first = goals.stderr.readline()
        assert "is starting; waiting" in first and f"process {os.getpid()}" in first, first
        go.set()  # the service finishes starting while the command waits
        out, err = goals.communicate(timeout=120)
        assert goals.returncode == 0, first + err
        assert "stop that process" not in first + err and "in use" not in first + err
        assert not (home / STARTING_FILE).exists()
        assert any(line.startswith("local API: ") for line in lines)
    finally:
        go.set()
        stop.set()
        thread.join(timeout=60)
        for store in opened:
            store.close()  # type: ignore[attr-defined]


def test_the_wait_is_bounded_and_says_the_service_is_starting(home: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        home.mkdir(parents=True, exist_ok=True)
        (home / STARTING_FILE).write_text(f"{owner.pid}\n")
        started = time.monotonic()
        with pytest.raises(ServiceStarting, match=f"process {owner.pid}\\) is still starting"):
            connect(wait_s=1.0)
        assert time.monotonic() - started < 5
    finally:
        owner.kill()
        owner.wait()
    assert connect(wait_s=1.0) is None  # a dead starter's file is not waited for

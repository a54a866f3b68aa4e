"""Ending without the interpreter's teardown keeps everything a normal exit keeps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings

REPO = Path(__file__).resolve().parents[1]
FACTS = (
    "Ann keeps bees in the garden",
    "Ann sails a small boat on Sundays",
    "Ann works as a nurse in Leeds",
    "Ann is allergic to peanuts",
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **env},
    )


def test_finish_waits_for_threads_runs_atexit_flushes_and_keeps_the_code() -> None:
    done = _run(
        "import atexit, sys, threading, time\n"
        "from assistant import fast_exit\n"
        "def work():\n    time.sleep(0.5)\n    print('thread done')\n"
        "threading.Thread(target=work).start()\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "sys.stdout.write('still in the buffer;')\n"  # a pipe: block-buffered, not yet written
        "fast_exit.finish(3)\n"
        "print('not reached')\n"
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("still in the buffer;")
    assert "thread done" in done.stdout and "atexit ran" in done.stdout
    assert "not reached" not in done.stdout
    assert done.stdout.index("thread done") < done.stdout.index("atexit ran")  # the normal order


def test_a_store_closed_before_finish_keeps_its_writes(tmp_path: Path) -> None:
    folder = tmp_path / "chroma"
    done = _run(
        "from pathlib import Path\n"
        "from assistant import fast_exit\n"
        "from assistant.config import Settings\n"
        "from memory.store import open_store\n"
        f"store = open_store(Settings(), path=Path({str(folder)!r}))\n"
        f"for text in {FACTS!r}:\n"
        "    store.profile.remember('ann', text)\n"
        "store.close()\n"
        "fast_exit.finish(0)\n",
        OMP_NUM_THREADS="1",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from memory.repair import OPEN_MARKER
    from memory.store import open_store

    assert not (folder / OPEN_MARKER).exists()  # closed cleanly: no index check on the next open
    store = open_store(Settings(), path=folder)
    try:
        assert {f.text for f in store.profile.facts("ann")} == set(FACTS)
        hits = store.profile.recall("ann", "What boat does Ann sail?", k=1)
        assert hits[0].fact.text == "Ann sails a small boat on Sundays"  # the vector index has it
    finally:
        store.close()


def test_the_cli_ends_normally_when_called_with_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests and the service call main/run_command in a process that goes on afterwards
    from assistant import cli, fast_exit

    monkeypatch.setattr(fast_exit, "_allowed", True)
    monkeypatch.setattr(fast_exit, "finish", lambda code: pytest.fail("ended without teardown"))
    with pytest.raises(SystemExit) as ended:
        cli.main(["--help"])
    assert ended.value.code == 0

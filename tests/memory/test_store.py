"""Opening the store: persistence across processes, one owner per folder, the server backend."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import MemoryStoreError, StoreLockedError
from memory.store import open_store
from tests.memory.conftest import make_settings, python_popen, run_python

WRITE = """
from pathlib import Path
from assistant.config import Settings
from memory.store import open_store
from memory.types import Source
with open_store(Settings(), path=Path({path!r})) as s:
    s.profile.observe("ann", "I live in Paris. I prefer short answers.", Source("t", 1, 5.0))
    s.state.set("cursor", 41)
print("written")
"""


def test_facts_persist_across_a_new_process(store_path: Path) -> None:
    done = run_python(WRITE.format(path=str(store_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    with open_store(Settings(), path=store_path) as store:
        assert [f.text for f in store.profile.facts("ann")] == [
            "User lives in Paris",
            "User prefers short answers",
        ]
        assert store.profile.recall("ann", "home city", k=1)[0].fact.text == "User lives in Paris"
        assert store.state.get("cursor") == 41
        assert store.rebuilt == []


HOLD = """
from pathlib import Path
import sys, time
from assistant.config import Settings
from memory.store import open_store
s = open_store(Settings(), path=Path({path!r}))
print("open", flush=True)
sys.stdin.read()
"""


def test_second_process_gets_lock_error_naming_the_owner(store_path: Path) -> None:
    holder = python_popen(HOLD.format(path=str(store_path)), stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        start = time.monotonic()
        with pytest.raises(StoreLockedError) as err:
            open_store(Settings(), path=store_path)
        assert time.monotonic() - start < 1.0
        message = str(err.value)
        assert f"process {holder.pid}" in message and 'memory.backend = "http"' in message
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=30)
        holder.stdout.close()  # type: ignore[union-attr]
        holder.stderr.close()  # type: ignore[union-attr]
    # the owner is gone: the folder opens again, nothing lost or corrupted
    with open_store(Settings(), path=store_path) as store:
        assert store.profile.facts("ann") == []


def test_lock_is_released_on_close_and_held_within_one_process(store_path: Path) -> None:
    store = open_store(Settings(), path=store_path)
    with pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
        open_store(Settings(), path=store_path)
    store.close()
    store.close()  # idempotent
    with open_store(Settings(), path=store_path) as again:
        again.profile.remember("ann", "User likes tea")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("chroma", path=str(Path(os.sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.skip("the chroma CLI is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_http_backend_talks_to_a_chroma_server(
    chroma_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_CHROMA_TOKEN", "test-token")
    settings = make_settings(backend="http", host="127.0.0.1", port=chroma_server)
    with (
        open_store(settings, path=tmp_path / "state") as one,
        open_store(settings, path=tmp_path / "state") as two,
    ):
        one.profile.observe("ann", "I live in Paris.")
        assert [f.text for f in two.profile.facts("ann")] == [
            "User lives in Paris"
        ]  # two processes' view
        assert two.profile.facts("bob") == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(backend="http", host="127.0.0.1", port=free_port())
    with pytest.raises(MemoryStoreError, match="cannot reach the Chroma server.*memory.backend"):
        open_store(settings, path=tmp_path)

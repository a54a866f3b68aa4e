"""Memory on the shared store (a Chroma server): two processes see each other's writes at
once, and a user never sees another user's memory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from memory.store import open_store
from memory.types import Item
from tests.team.chromaserver import ChromaServer, chroma_exe
from tests.team.workers import REPO, worker_env


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    if chroma_exe() is None:
        pytest.skip("the chroma CLI is not installed (it comes with chromadb)")
    server = ChromaServer.start(tmp_path_factory.mktemp("chroma-server"))
    yield server
    server.stop()


def test_two_processes_read_their_writes_and_users_stay_apart(chroma: ChromaServer, tmp_path: Path) -> None:
    other = subprocess.Popen(
        [sys.executable, "-m", "tests.team.memory_worker", str(chroma.port), str(tmp_path / "other")],
        cwd=REPO, env=worker_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert other.stdout is not None and other.stdin is not None
        line = other.stdout.readline()
        assert line.strip() == "written", other.stderr.read() if other.stderr else ""
        settings = Settings.model_validate({"memory": {"backend": "http", "port": chroma.port}})
        with open_store(settings, path=tmp_path / "here") as here:
            # the other process's write is visible here at once
            assert "User's favourite city is Lisbon" in [f.text for f in here.profile.facts("ann")]
            top = here.profile.recall("ann", "Which city does the user like best?", k=1)
            assert [h.fact.text for h in top] == ["User's favourite city is Lisbon"]
            assert here.profile.facts("bob") == []
            assert here.profile.recall("bob", "Which city does the user like best?", k=5) == []
            here.profile.remember("ann", "User's dog is called Rex", "relationship")
            here.items.upsert([Item(id="arxiv:2501.00001", owner="ann", source="arxiv",
                                    title="Sparse attention kernels", text="Sparse attention kernels")])
            keyword = here._scopes.scope("items", "ann").keyword  # the BM25 half of item search
            assert [r.id for r, _ in keyword("quokka", 5)] == []  # this process's index is built
            other.stdin.write("read\n")
            other.stdin.flush()
            out, err = other.communicate(timeout=120)
            # the other process's new item reaches this process's keyword search at once
            assert [r.id for r, _ in keyword("quokka", 5)] == ["arxiv:2501.00002"]
            assert [i.id for i, _ in here.items.search("bob", "quokka", k=5)] == []
        assert other.returncode == 0, err[-2000:]
        seen = json.loads(out.strip().splitlines()[-1])
        # ... and this process's write is visible there
        assert set(seen["ann_facts"]) == {"User's favourite city is Lisbon", "User's dog is called Rex"}
        assert seen["ann_recall"][0] == "User's dog is called Rex"
        assert seen["bob_facts"] == [] and seen["bob_recall"] == []
    finally:
        if other.poll() is None:
            other.kill()
        other.wait(timeout=30)

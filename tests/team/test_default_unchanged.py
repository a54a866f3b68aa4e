"""The single-user default stays as it was: nothing of the team profile is imported on
its path, and it keeps its SQLite checkpointer without a cross-process lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.team.workers import REPO, worker_env

SCRIPT = """
import sys
from assistant.app import App
from assistant.config import Settings
from assistant.graph.session import ChatSession
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory

with App(Settings()) as app:
    session = ChatSession(app.settings, ScriptedChatModel(["Sure."]), FakeMemory(), app.checkpointer, "u", "t")
    assert session.send("hello") == "Sure."
    assert session._thread_lock is None
    assert type(app.checkpointer).__name__ == "SqliteSaver"
team = sorted(m for m in sys.modules if m.startswith(("assistant.team", "psycopg", "langgraph.checkpoint.postgres")))
print(team)
"""


def test_the_default_path_imports_nothing_of_the_team_profile(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=worker_env(ASSISTANT_HOME=str(tmp_path)),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"

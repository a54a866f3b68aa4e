"""`assistant run` is the app and the CLI its client: chat and every data command work while
the service holds the data directory, through its local API (Unix socket, token file)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from assistant.background.jobs import Runtime
from assistant.background.service import run_service
from assistant.config import Settings
from assistant.local_api import socket_path, token_path
from assistant.local_api.client import ServiceClient, connect
from tests.graph.conftest import scripted

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`assistant ARGS` in a fresh process, as a person at a terminal would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ASSISTANT"))}
    env.update(ASSISTANT_HOME=str(home), COLUMNS="200", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], input=stdin, cwd=home.parent / "cwd",
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@contextmanager
def serving(settings: Settings, runtime: Runtime) -> Iterator[ServiceClient]:
    """`assistant run` in a thread of this process, quiet, until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_service,
        kwargs={"settings": settings, "echo": lambda line: None, "stop": stop, "runtime": runtime,
                "specs": [], "install_signals": False, "load_model": False},
        daemon=True,
    )  # fmt: skip
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while (client := connect()) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield client
    finally:
        stop.set()
        thread.join(timeout=60)


@pytest.fixture
def service(home: Path) -> Iterator[list[str]]:
    """`assistant run` in this process (a scripted model, the real store and checkpointer)."""
    settings = Settings()
    runtime = Runtime(settings, llm_factory=lambda: scripted(replies=lambda m: "Sure."))
    stop = threading.Event()
    lines: list[str] = []
    thread = threading.Thread(
        target=run_service,
        kwargs={"settings": settings, "echo": lines.append, "stop": stop, "runtime": runtime,
                "specs": [], "install_signals": False, "load_model": False},
        daemon=True,
    )  # fmt: skip
    thread.start()
    deadline = time.monotonic() + 60
    while connect() is None:
        assert time.monotonic() < deadline and thread.is_alive(), lines
        time.sleep(0.1)
    yield lines
    stop.set()
    thread.join(timeout=60)
    assert lines[-1] == "stopped cleanly"


def test_the_token_is_private_and_required(service: list[str]) -> None:
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(socket_path().stat().st_mode) == 0o600
    transport = httpx.HTTPTransport(uds=str(socket_path()))
    with httpx.Client(transport=transport, base_url="http://x") as anonymous:
        assert anonymous.get("/health").status_code == 401
        assert anonymous.get("/health", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert any(line.startswith("local API: ") for line in service)


def test_chat_works_while_the_service_runs_and_its_goal_shows_in_goals(
    home: Path, service: list[str]
) -> None:
    first = cli(home, "chat", "--thread", "T", stdin="I need to write a talk for PyCon.\n")
    assert first.returncode == 0, first.stderr
    assert "in use" not in first.stderr
    assert "ada> " in first.stdout and "audience" in first.stdout  # streamed from the service
    second = cli(home, "chat", "--thread", "T", stdin="Mostly beginners.\n/goals\n")
    assert "resuming 1 earlier turn(s)" in second.stdout
    assert "audience: Mostly beginners" in second.stdout
    goals = cli(home, "goals")
    assert goals.returncode == 0, goals.stderr
    assert "write a talk for PyCon" in goals.stdout and "in use" not in goals.stderr
    profile = cli(home, "profile", "show")
    assert profile.returncode == 0 and "in use" not in profile.stderr
    jobs = cli(home, "jobs")
    assert jobs.returncode == 0, jobs.stderr


def test_commands_print_the_same_with_and_without_the_service(home: Path) -> None:
    settings = Settings()
    runtime = Runtime(settings, llm_factory=lambda: scripted(replies=lambda m: "Sure."))
    runtime.store.profile.remember("local", "I live in Lisbon")
    runtime.close()
    alone = {cmd: cli(home, *cmd.split()) for cmd in ("goals", "profile show", "feeds list")}
    assert "Lisbon" in alone["profile show"].stdout

    runtime = Runtime(settings, llm_factory=lambda: scripted(replies=lambda m: "Sure."))
    with serving(settings, runtime):
        served = {cmd: cli(home, *cmd.split()) for cmd in alone}
        bad = cli(home, "digest", "--date", "yesterday")
    for cmd in alone:
        assert (served[cmd].stdout, served[cmd].returncode) == (alone[cmd].stdout, alone[cmd].returncode), cmd
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --date 'yesterday' is not a date; use YYYY-MM-DD"


class Slow:
    """A scripted model that streams one word every 20 ms, like a model on a busy CPU;
    "briefly" gets two words."""

    def __init__(self) -> None:
        self.words_sent = 0

    def __getattr__(self, name: str):  # the rest of the ChatModel interface, scripted
        return getattr(scripted(replies=lambda m: "Sure."), name)

    def stream(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        count = 2 if "briefly" in messages[-1]["content"] else 500
        for i in range(count):
            time.sleep(0.02)
            self.words_sent += 1
            yield f" w{i}"


def test_ctrl_c_in_a_chat_through_the_service_stops_the_reply(home: Path) -> None:
    from assistant.graph.session import ReplyCancelled

    settings = Settings()
    model = Slow()
    runtime = Runtime(settings, llm_factory=lambda: model)
    with serving(settings, runtime) as client:
        shown: list[str] = []

        def ctrl_c_after_three(piece: str) -> None:
            shown.append(piece)
            if len(shown) == 3:
                raise KeyboardInterrupt  # where the terminal's SIGINT lands while it prints

        with pytest.raises(ReplyCancelled) as cancelled:
            client.send("local", "T", "Tell me a long story", on_token=ctrl_c_after_three)
        assert cancelled.value.partial == "".join(shown).strip()  # what the terminal showed
        assert cancelled.value.partial.startswith("w0")
        assert client.send("local", "T", "Say it briefly", on_token=None).split() == ["w0", "w1"]
        assert model.words_sent < 100  # the service stopped generating, it did not finish
        history = client.history("local", "T")
        assert history[1]["role"] == "assistant" and history[1]["content"].endswith("[reply cancelled]")

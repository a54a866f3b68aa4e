"""Commands run by the service at the same time: a quick one is not held up by a long one,
and each caller gets only its own output."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import click
import pytest

from assistant.cli import COMMANDS
from assistant.local_api.isolation import thread_streams
from assistant.local_api.server import run_cli

started = threading.Event()
release = threading.Event()


@click.command()
def slow() -> None:
    """Stands in for `probe run`: prints, waits minutes in real life, prints again."""
    click.echo("slow: started")
    started.set()
    assert release.wait(30)
    click.echo("slow: done")
    click.echo("slow: a warning", err=True)


@click.command()
def quick() -> None:
    click.echo("quick: listed")


@click.command()
def broken() -> None:
    raise click.UsageError("no such option --frob")


def test_a_quick_command_answers_while_a_long_one_runs(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(COMMANDS, "probe", f"{__name__}:slow")
    monkeypatch.setitem(COMMANDS, "goals", f"{__name__}:quick")
    monkeypatch.setitem(COMMANDS, "jobs", f"{__name__}:broken")
    started.clear()
    release.clear()
    results: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: results.update(slow=run_cli(["probe"], 100)))
    worker.start()
    try:
        assert started.wait(30), "the long command never started"
        quick_result = run_cli(["goals"], 100)  # would wait for `probe` if commands were serial
        broken_result = run_cli(["jobs"], 100)
        print("the service's own line")
    finally:
        release.set()
        worker.join(30)
    assert quick_result == {"stdout": "quick: listed\n", "stderr": "", "exit_code": 0}
    assert broken_result["exit_code"] == 2 and "no such option --frob" in broken_result["stderr"]
    assert broken_result["stdout"] == ""
    assert results["slow"] == {"stdout": "slow: started\nslow: done\n", "stderr": "slow: a warning\n", "exit_code": 0}
    assert capsys.readouterr().out == "the service's own line\n"


def test_a_thread_without_buffers_writes_to_the_process_streams(capsys: pytest.CaptureFixture[str]) -> None:
    with thread_streams(stdin="yes\n") as (out, _err):
        print("inside")
        assert sys.stdin.readline() == "yes\n"
        other = threading.Thread(target=lambda: print("from another thread"))
        other.start()
        other.join()
    print("after")
    assert out.getvalue() == "inside\n"
    assert capsys.readouterr().out == "from another thread\nafter\n"

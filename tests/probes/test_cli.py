"""`assistant probe run/report/history/cases` through click, with a scripted model."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.fakes import ScriptedChatModel


@pytest.fixture
def scripted_engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedChatModel:
    """Route shared_engine to a scripted model (the real one is covered by the slow test)."""
    model = ScriptedChatModel(lambda m: "AYE. I AM ADA. B.")
    fake = types.ModuleType("assistant.llm.engine")
    fake.shared_engine = lambda settings: model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "assistant.llm.engine", fake)
    return model


def test_run_then_report_and_history(home: Path, scripted_engine: ScriptedChatModel) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["probe", "run", "--rounds", "1", "--cases", "3", "--controls", "none",
                                 "--controls", "cfg:g=1.5", "--no-general"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| cfg g=1.5 |" in result.output and "png:" in result.output
    assert scripted_engine.calls
    report = runner.invoke(cli, ["probe", "report"])
    assert report.exit_code == 0 and "## Trade-off" in report.output
    command = next(line for line in report.output.splitlines() if line.startswith("- command:"))
    for part in ("--rounds 1", "--controls none --controls cfg:g=1.5", "--cases 3", "--no-general"):
        assert part in command
    history = runner.invoke(cli, ["probe", "history"])
    assert history.exit_code == 0 and "manual" in history.output


def test_bad_control_fails_before_loading_the_model(home: Path, scripted_engine: ScriptedChatModel) -> None:
    result = CliRunner().invoke(cli, ["probe", "run", "--controls", "split_softmax:k=3"])
    assert result.exit_code != 0 and "k must be in (0, 1]" in str(result.exception)
    assert scripted_engine.calls == []


def test_history_and_report_without_runs(home: Path) -> None:
    runner = CliRunner()
    assert "no probe runs yet" in runner.invoke(cli, ["probe", "history"]).output
    assert "no probe runs yet" in str(runner.invoke(cli, ["probe", "report"]).exception)


def test_cases_lists_the_suite(home: Path) -> None:
    result = CliRunner().invoke(cli, ["probe", "cases", "--family", "language"])
    assert result.exit_code == 0
    assert "lang-french" in result.output and "fmt-capitals" not in result.output

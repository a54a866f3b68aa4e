"""`assistant jobs` and `assistant jobs run` through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import SchedulerError


def test_jobs_lists_every_configured_job_with_its_next_run(home: Path) -> None:
    result = CliRunner().invoke(cli, ["jobs"], catch_exceptions=False)
    assert result.exit_code == 0
    for job_id in ("pull_arxiv", "summarise", "digest", "nightly_probe"):
        assert job_id in result.output
    assert "pull_slack" not in result.output  # no Slack token
    assert "07:30" in result.output and "once `assistant run` starts" in result.output
    assert not (home / "jobs.sqlite").exists()  # listing writes nothing


def test_jobs_run_unknown_id_names_the_known_ones(home: Path) -> None:
    result = CliRunner().invoke(cli, ["jobs", "run", "nope"])
    assert isinstance(result.exception, SchedulerError)
    assert "known jobs: digest, nightly_probe, pull_arxiv, pull_slack, summarise" in str(
        result.exception
    )


def test_jobs_run_pull_slack_without_token_says_it_skipped(home: Path) -> None:
    result = CliRunner().invoke(cli, ["jobs", "run", "pull_slack"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "skipped: SLACK_BOT_TOKEN is not set" in result.output


def test_help_of_our_commands_stays_light(home: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from assistant.cli import cli\n"
        "for noun in ('jobs', 'digest', 'run'):\n"
        "    r = CliRunner().invoke(cli, [noun, '--help'])\n"
        "    assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'apscheduler') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

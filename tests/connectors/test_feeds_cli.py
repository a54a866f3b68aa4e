"""`assistant feeds pull/list` against the loopback servers, configured only through the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.commands.feeds import BadOption, parse_since
from tests.connectors.servers import ME, TOKEN, ArxivServer, SlackServer


def env_for(arxiv: ArxivServer, slack: SlackServer) -> dict[str, str]:
    return {
        "ASSISTANT__FEEDS__ARXIV_RSS_URL": arxiv.url + "/rss/{category}",
        "ASSISTANT__FEEDS__ARXIV_API_URL": arxiv.url + "/api/query",
        "ASSISTANT__FEEDS__ARXIV_CATEGORIES": '["cs.CL", "cs.LG"]',
        "ASSISTANT__FEEDS__ARXIV_QUERIES": '["bad query"]',
        "ASSISTANT__FEEDS__ARXIV_MIN_INTERVAL_S": "0.0",
        "ASSISTANT__FEEDS__TIMEOUT_S": "2.0",
        "ASSISTANT__FEEDS__SLACK_CHANNELS": '["#general", "#secret"]',
        "ASSISTANT__FEEDS__OWNER": "alice",
        "ASSISTANT__SLACK__BASE_URL": slack.api_url,
        "ASSISTANT__SLACK__ME": ME,
        "SLACK_BOT_TOKEN": TOKEN,
    }


def test_parse_since_accepts_dates_and_refuses_the_rest() -> None:
    today = date(2026, 11, 25)
    assert parse_since("2026-11-20", today=today) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since("yesterday", today=today) == datetime(2026, 11, 24, tzinfo=UTC)
    assert parse_since("3d", today=today) == datetime(2026, 11, 22, tzinfo=UTC)
    assert parse_since("2026-11-20T08:00:00+01:00").hour == 8
    with pytest.raises(BadOption, match="--since 'last week' is not a date; use YYYY-MM-DD"):
        parse_since("last week")


def test_bad_since_is_one_line_and_exit_2(home: Path) -> None:
    result = CliRunner().invoke(cli, ["feeds", "pull", "--since", "2026-13-45"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "Error: --since '2026-13-45' is not a date; use YYYY-MM-DD (e.g. 2026-11-20), 'yesterday' or '3d'"
    ]


def test_pull_prints_a_line_per_feed_and_a_total_then_lists(
    home: Path, arxiv_server: ArxivServer, slack_server: SlackServer
) -> None:
    runner = CliRunner()
    env = env_for(arxiv_server, slack_server)
    result = runner.invoke(cli, ["feeds", "pull"], env=env)
    out = result.output
    assert "arxiv:rss:cs.CL: new 3, updated 0, unchanged 0, failed 0" in out
    assert "arxiv:rss:cs.LG: new 1, updated 0, unchanged 1, failed 0" in out
    assert (
        "arxiv:query:bad query: new 0, updated 0, unchanged 0, failed 1: arxiv:query:bad query: arXiv API rejected"
        in out
    )
    assert "slack:#general: new 9, updated 0, unchanged 0, failed 0" in out
    assert (
        "slack:#secret: new 0, updated 0, unchanged 0, failed 1: the bot is not a member of #secret"
        in out
    )
    assert "total: new 13, updated 0, unchanged 1, failed 2 (5 feeds)" in out
    assert result.exit_code == 1  # some feeds failed

    again = runner.invoke(cli, ["feeds", "pull", "--source", "arxiv"], env=env)
    assert (
        "arxiv:rss:cs.CL: new 0, updated 0, unchanged 0, failed 0 (not modified since last pull)"
        in again.output
    )
    assert "slack:" not in again.output

    listed = runner.invoke(cli, ["feeds", "list", "--source", "arxiv", "--limit", "10"], env=env)
    assert listed.exit_code == 0, listed.output
    assert (
        "Split Softmax Keeps the System Prompt" in listed.output
        and "arxiv:2611.00001" in listed.output
    )
    assert "#general" not in listed.output


def test_console_script_pull_against_loopback(
    home: Path, arxiv_server: ArxivServer, slack_server: SlackServer
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT", "SLACK_"))}
    env.update(env_for(arxiv_server, slack_server))
    env.update(
        {
            "ASSISTANT_HOME": str(home),
            "ASSISTANT__FEEDS__ARXIV_QUERIES": "[]",
            "ASSISTANT__FEEDS__SLACK_CHANNELS": '["#general"]',
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "feeds", "pull"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=home.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "total: new 13, updated 0, unchanged 1, failed 0 (3 feeds)" in done.stdout

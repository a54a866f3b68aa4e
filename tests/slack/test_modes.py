"""Mode selection and tokens: only from the environment, one clear line when missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.app import App, read_secrets
from assistant.config import Settings, SlackSettings
from assistant.errors import AssistantError, ConfigError
from assistant.slack.bot import read_tokens, start_slack
from tests.slack.conftest import scripted

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ASSISTANT"))}
    clean.update(ASSISTANT_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "assistant", "slack"], cwd=home.parent, env=clean,
        capture_output=True, text=True, timeout=60,
    )


def test_missing_bot_token_is_one_line_naming_the_variable(home: Path) -> None:
    result = _run_cli(home, {})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN" in lines[0]


def test_missing_app_token_and_signing_secret_names_both(home: Path) -> None:
    result = _run_cli(home, {"SLACK_BOT_TOKEN": "xoxb-x"})
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert not (home / "slack_events.sqlite3").exists()  # nothing written before failing


def test_app_token_selects_socket_mode(home: Path, fake_slack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert read_tokens(read_secrets()).socket_mode
    settings = Settings(slack=SlackSettings(base_url=fake_slack.base_url))
    fake_slack.errors["apps.connections.open"] = "invalid_auth"
    with pytest.raises(AssistantError, match="SLACK_APP_TOKEN"):
        start_slack(App(settings, store_factory=lambda: None), conversation=scripted())
    (call,) = fake_slack.ok_calls("apps.connections.open")


def test_signing_secret_selects_http_mode(home: Path, fake_slack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    from tests.slack.conftest import free_port

    port = free_port()
    settings = Settings(slack=SlackSettings(base_url=fake_slack.base_url, http_port=port))
    handle = start_slack(App(settings, store_factory=lambda: None), conversation=scripted())
    try:
        assert handle.mode == "http" and handle.url == f"http://127.0.0.1:{port}/slack/events"
    finally:
        handle.stop()


def test_tokens_are_never_read_from_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[slack]\nsigning_secret = "abc"\n')
    from assistant.config import load_settings

    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        load_settings(config)

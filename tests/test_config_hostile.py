"""Bad and hostile configuration: one line, exit code 2, nothing written (fuzzed too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.cli import main
from assistant.config import load_settings
from assistant.errors import ConfigError
from tests.hostile import hostile_text

BAD = {
    "zone": ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone"),
    "digest hour": ('[schedule]\ndigest_time = "25:00"\n', "schedule.digest_time"),
    "probe minute": ('[schedule]\nprobe_time = "02:75"\n', "schedule.probe_time"),
    "placeholder": ('[feeds]\narxiv_rss_url = "https://rss.arxiv.org/rss/{cat}"\n', "feeds.arxiv_rss_url"),
    "no placeholder": ('[feeds]\narxiv_rss_url = "https://rss.arxiv.org/rss/"\n', "feeds.arxiv_rss_url"),
    "open brace": ('[feeds]\narxiv_rss_url = "https://x/{category"\n', "feeds.arxiv_rss_url"),
    "token in list": ('[slack]\nallowed_users = ["U1", "xoxb-1234-5678-abcdef"]\n', "allowed_users[1]"),
    "secret in inline table": (
        '[persona]\nprobes = [{question = "q", judge = "contains", args = {signing_secret = "s3cr3t"}}]\n',
        "signing_secret",
    ),
    "inline section": ('slack = {bot_token = "abc"}\n', "slack.bot_token"),
    "token in query": ('[slack]\nbase_url = "https://slack.com/api/?token=xoxb-123-abc"\n', "base_url"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_is_one_line_exit_two_and_writes_nothing(name, home: Path, tmp_path: Path, capsys) -> None:
    text, key = BAD[name]
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(path), "jobs"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and key in err
    assert "Traceback" not in err
    assert not home.exists()  # no data directory, no log file, no job store


def test_good_values_still_load(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[schedule]\ntimezone = "Europe/Paris"\ndigest_time = "23:59"\n'
        '[feeds]\narxiv_rss_url = "http://127.0.0.1:8000/rss/{category}?x=1"\n',
        encoding="utf-8",
    )
    settings_ = load_settings(path).settings
    assert settings_.schedule.timezone == "Europe/Paris"


KEYS = [
    ("schedule", "timezone"),
    ("schedule", "digest_time"),
    ("feeds", "arxiv_rss_url"),
    ("persona", "name"),
    ("slack", "command"),
    ("chat", "default_thread"),
]


def _toml_string(text: str) -> str:
    # JSON escapes are valid TOML basic-string escapes, except for surrogates (not allowed)
    return json.dumps(text.encode("utf-8", "replace").decode("utf-8"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(KEYS), value=hostile_text(), raw=st.binary(max_size=200), use_raw=st.booleans())
def test_any_config_text_loads_or_fails_in_one_line(tmp_path_factory, key, value, raw, use_raw) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text(f"[{key[0]}]\n{key[1]} = {_toml_string(value)}\n", encoding="utf-8")
    try:
        load_settings(path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()

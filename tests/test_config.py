"""Configuration: defaults, lookup order, environment overrides, and one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant.config import Settings, load_settings
from assistant.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_without_any_file(home: Path) -> None:
    loaded = load_settings()
    assert loaded.source == "embedded defaults"
    assert loaded.settings == Settings()
    assert loaded.settings.model.device == "auto"


def test_shipped_config_toml_documents_every_key_with_its_default() -> None:
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert Settings.model_validate(data) == Settings(), "config.toml must equal the embedded defaults"
    for section, model in Settings.model_fields.items():
        assert section in data, f"config.toml lacks section [{section}]"
        fields = model.annotation.model_fields  # type: ignore[union-attr]
        for key in fields:
            assert key in data[section], f"config.toml lacks {section}.{key}"
    # every key line carries a one-line comment above it
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith(("#", "[", '"', "{")) and not line.startswith(" "):
            above = lines[i - 1].strip()
            assert above.startswith("#") and len(above) > 3, f"no comment above: {line}"


def test_lookup_order_explicit_then_env_then_cwd(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd_file = write(Path.cwd() / "config.toml", "[digest]\ntop_n = 3\n")
    assert load_settings().settings.digest.top_n == 3
    assert load_settings().source == str(cwd_file)
    env_file = write(tmp_path / "env.toml", "[digest]\ntop_n = 4\n")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(env_file))
    assert load_settings().settings.digest.top_n == 4
    explicit = write(tmp_path / "explicit.toml", "[digest]\ntop_n = 5\n")
    assert load_settings(explicit).settings.digest.top_n == 5


def test_environment_overrides_every_key_kind(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT__MODEL__DTYPE", "float32")
    monkeypatch.setenv("ASSISTANT__SPLIT_SOFTMAX__K", "0.25")
    monkeypatch.setenv("ASSISTANT__FEEDS__ARXIV_CATEGORIES", '["cs.AI"]')
    monkeypatch.setenv("ASSISTANT__SLACK__ME", "U123")
    s = load_settings().settings
    assert s.model.dtype == "float32"
    assert s.split_softmax.k == 0.25
    assert s.feeds.arxiv_categories == ["cs.AI"]
    assert s.slack.me == "U123"


def test_settings_are_frozen(home: Path) -> None:
    s = load_settings().settings
    with pytest.raises(ValidationError):
        s.model.dtype = "float32"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[model]\ndtype = "fp8"\n', "key 'model.dtype': expected 'auto', 'float32', 'bfloat16' or 'float16', found 'fp8'"),
        ("[digest]\ntop_n = \"ten\"\n", "key 'digest.top_n': expected a valid integer, unable to parse string as an integer, found 'ten'"),
        ("[modle]\npath = ''\n", "unknown key 'modle'; did you mean 'model'?"),
        ("[model]\ndtyp = 'float32'\n", "unknown key 'model.dtyp'; did you mean 'dtype'?"),
        ("[split_softmax]\nk = 2.0\n", "key 'split_softmax.k': expected less than or equal to 1, found 2.0"),
        ("[model\n", "is not valid TOML"),
    ],
)
def test_bad_config_gives_one_line_naming_file_and_key(home: Path, tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(str(path)) or line.startswith(f"config file {path}")
    assert message in line


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ('[slack]\nbot_token = "xoxb-123"\n', "SLACK_BOT_TOKEN"),
        ('[slack]\napp_token = "xapp-1"\n', "SLACK_APP_TOKEN"),
        ('[slack]\nsigning_secret = "abc"\n', "SLACK_SIGNING_SECRET"),
        ('[digest]\nslack_target = "xoxb-pasted-here"\n', "SLACK_BOT_TOKEN"),
    ],
)
def test_secret_in_file_is_refused_naming_the_variable(home: Path, tmp_path: Path, text: str, variable: str) -> None:
    path = write(tmp_path / "secret.toml", text)
    with pytest.raises(ConfigError, match=f"set {variable} in the environment"):
        load_settings(path)


def test_missing_explicit_file_and_env_override_errors(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv("ASSISTANT__MODEL__DTYPE", "fp8")
    with pytest.raises(ConfigError, match="environment variable ASSISTANT__MODEL__DTYPE: key 'model.dtype'"):
        load_settings()
    monkeypatch.delenv("ASSISTANT__MODEL__DTYPE")
    monkeypatch.setenv("ASSISTANT__MODEL", "x")
    with pytest.raises(ConfigError, match="expected ASSISTANT__SECTION__KEY"):
        load_settings()

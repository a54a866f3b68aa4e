"""Fixtures shared by every test folder.

- `home`: a fresh data directory (ASSISTANT_HOME) and no config file or overrides.
- `settings`: the embedded default settings.
- `real_engine`: the real default model, loaded once per test session (slow tests only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory; config lookup starts from an empty working folder."""
    data = tmp_path / "home"
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.setenv("ASSISTANT_HOME", str(data))
    monkeypatch.delenv("ASSISTANT_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("ASSISTANT__") or name.startswith("SLACK_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("assistant.paths.user_config_file", lambda: tmp_path / "no-user-config.toml")
    monkeypatch.chdir(work)
    return data


@pytest.fixture
def settings() -> Settings:
    """The embedded default settings."""
    return Settings()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted-weights cache for the whole session, so the GGUF converts once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def real_engine(model_cache_dir: Path) -> Iterator[object]:
    """The real default chat model (SmolLM2-135M-Instruct), shared by all slow tests."""
    from assistant.llm.engine import load_engine

    engine = load_engine(Settings(), cache_dir=model_cache_dir)
    yield engine
    close = getattr(engine, "close", None)
    if close is not None:
        close()

"""Where the assistant keeps its files: one data directory, moved by ASSISTANT_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "purposeful-assistant"
HOME_ENV = "ASSISTANT_HOME"
CONFIG_ENV = "ASSISTANT_CONFIG"


def data_dir() -> Path:
    """The folder that holds every persistent file (not created here)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME))


def user_config_file() -> Path:
    """The per-user config file, last in the lookup order."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def ensure_data_dir() -> Path:
    """Create the data directory if needed and return it."""
    path = data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path

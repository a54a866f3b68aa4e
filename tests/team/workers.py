"""Starting helper processes from the repository root with the project on their path."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    """The test's environment plus the repository on PYTHONPATH (workers import tests.*)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env

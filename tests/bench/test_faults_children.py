"""The fault bench's child programs name code that exists.

After the background modules moved, bench/faults.py still started its killed-job service
with `assistant.jobs:pull_arxiv`: the child died at start and the check reported three
symptoms per trial of a fault it never injected. Every import and job reference in the
bench's source is checked here, where a move breaks it at once.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from assistant.background.scheduler import _importable

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"
SOURCE = BENCH.read_text(encoding="utf-8")
OURS = ("assistant", "memory", "tests")


def _imports() -> list[tuple[str, str]]:
    """(module, name) of every `from M import N` in the bench, its child scripts included."""
    found: set[tuple[str, str]] = set()
    for line in re.findall(r"^\s*from ([\w.]+) import ([\w, ]+)$", SOURCE, flags=re.M):
        module, names = line
        if module.split(".")[0] in OURS:
            found.update((module, name.split(" as ")[0].strip()) for name in names.split(","))
    return sorted(found)


def _job_refs() -> list[str]:
    refs = {
        node.value
        for node in ast.walk(ast.parse(SOURCE))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    inner = set(re.findall(r"\"((?:assistant|memory|tests)[\w.]*:\w+)\"", SOURCE))
    return sorted(r for r in refs | inner if re.fullmatch(r"(assistant|memory|tests)[\w.]*:\w+", r))


def test_the_bench_names_job_functions() -> None:
    assert "assistant.background.jobs:pull_arxiv" in _job_refs()


@pytest.mark.parametrize("ref", _job_refs())
def test_every_job_reference_imports(ref: str) -> None:
    assert _importable(ref), f"bench/faults.py refers to {ref}, which does not import"


@pytest.mark.parametrize(("module", "name"), _imports())
def test_every_import_resolves(module: str, name: str) -> None:
    if importlib.util.find_spec(module) is not None and hasattr(
        importlib.import_module(module), name
    ):
        return
    assert importlib.util.find_spec(f"{module}.{name}") is not None, f"{module} has no {name}"

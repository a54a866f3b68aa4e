"""The nightly self-probe states its cost against its budget, in `assistant jobs` too."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import ProbesSettings, Settings
from assistant.probes.cost import BUDGET_S, nightly_cost_line, nightly_cpu_seconds


def test_default_nightly_fits_its_budget() -> None:
    settings = Settings()
    assert nightly_cpu_seconds(settings) / 2 <= BUDGET_S
    line = nightly_cost_line(settings)
    p = settings.probes
    assert line.startswith(f"{p.cases + 1} checks x 2 settings x {p.rounds} rounds, about ")
    assert line.endswith("within its 10 min budget")


def test_cost_grows_with_cases_rounds_and_controls() -> None:
    base = nightly_cpu_seconds(Settings())
    more_cases = nightly_cpu_seconds(Settings(probes=ProbesSettings(cases=30)))
    more_rounds = nightly_cpu_seconds(Settings(probes=ProbesSettings(rounds=16)))
    grid = Settings(probes=ProbesSettings(controls=["all"], rounds=16, cases=40))
    assert base < more_cases and base < more_rounds
    assert "9 settings" in nightly_cost_line(grid) and nightly_cost_line(grid).endswith("OVER its 10 min budget")


def test_jobs_lists_the_nightly_cost(home: Path) -> None:
    out = CliRunner().invoke(cli, ["jobs"], catch_exceptions=False).output
    assert f"nightly_probe: {nightly_cost_line(Settings())}" in out.splitlines()


def test_sifeval_cases_cost_their_longer_answers() -> None:
    from assistant.probes.cost import SIFEVAL_PROBE_TOKENS
    from assistant.probes.suite import OPT_IN_FILES, load_cases

    assert {c.max_new_tokens for c in load_cases(OPT_IN_FILES["sifeval"])} == {SIFEVAL_PROBE_TOKENS}
    without = Settings(probes=ProbesSettings(families=["recall", "identity", "refusal"]))
    assert nightly_cpu_seconds(Settings()) > nightly_cpu_seconds(without)

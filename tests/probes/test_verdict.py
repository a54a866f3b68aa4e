"""The plain sentence that opens the report, the digest line and `probe history`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from assistant.background.digest_render import _probe_line
from assistant.cli import cli
from assistant.config import ProbesSettings, Settings
from assistant.probes.history import last_result, save_run
from assistant.probes.nightly import run_nightly
from assistant.probes.report import render_markdown
from assistant.probes.verdict import verdict
from tests.fakes import ScriptedChatModel

JARGON = re.compile(r"softmax|bootstrap|interval|paired|\bk=|\bss\b|control|stability|CI\b", re.IGNORECASE)
WHEN = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def record(per_case: dict[str, list[float]], *, label: str = "ss k=0.50 text", others: tuple[dict[str, Any], ...] = (),
           when: datetime = WHEN, own: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    rounds = len(next(iter(per_case.values()))) - 1
    n = len(per_case)
    curve = []
    for r in range(rounds + 1):
        mean = sum(v[r] for v in per_case.values()) / n
        curve.append({"round": r, "mean": mean, "lo": max(mean - 0.1, 0.0), "hi": min(mean + 0.1, 1.0), "n": n})
    head = {"label": label, "curve": curve, "per_case": per_case, "first_round": curve[0], "last_round": curve[-1],
            "answers": {cid: [["I'm Emily."]] * (rounds + 1) for cid in per_case}}  # fmt: skip
    return {
        "id": when.strftime("%Y%m%dT%H%M%SZ") + "-abcdef", "date": when.isoformat(), "day": when.date().isoformat(),
        "kind": "nightly", "headline": label, "options": {"rounds": rounds, "seed": 1},
        "cases": [{"id": cid, "family": "x", "own": cid in own, "probe": "What is your name?"} for cid in per_case],
        "controls": [head, *others],
    }  # fmt: skip


STEADY = {f"c{i}": [1.0] * 9 if i < 7 else [0.0] * 9 for i in range(9)}  # 7 of 9 pass every round
DRIFT = {f"c{i}": [1.0] * 9 if i == 0 else [1.0] * 5 + [0.0] * 4 if i < 7 else [0.0] * 9
         for i in range(9)}  # 7 pass early, 1 late


def test_steady_run_says_still_following_with_the_week() -> None:
    history = [record(STEADY, when=WHEN - timedelta(days=d)) for d in (1, 2)]
    text = verdict(record(STEADY), threshold=0.2, history=history)
    assert text == "Still following its instructions after 8 rounds: 78% of checks, no change from last week."
    assert not JARGON.search(text)


def test_first_run_says_so_and_manual_run_leaves_the_week_out() -> None:
    assert verdict(record(STEADY), history=[]).endswith("78% of checks, the first check this week.")
    assert verdict(record(STEADY)) == "Still following its instructions after 8 rounds: 78% of checks."


def test_drift_says_drifting_with_start_and_end_and_what_to_try() -> None:
    text = verdict(record(DRIFT), threshold=0.0)
    assert text.startswith("Drifting: 78% of checks passed at the start of a conversation, 11% after 8 rounds; try ")
    assert not JARGON.search(text.split("; try ")[0])


def test_drift_advice_names_a_setting_that_held_better_in_the_run() -> None:
    better = {"label": "repeat_system", "last_round": {"mean": 0.7}, "delta_vs_none_last_round": {"lo": 0.2}}
    text = verdict(record(DRIFT, others=(better,)), threshold=0.0)
    assert "try repeating the instructions before every message, which kept 70% in this run." in text
    stock = verdict(record(DRIFT, label="none"), threshold=0.0)
    assert "[split_softmax] enabled = true" in stock


def test_low_scores_and_week_drop_are_said() -> None:
    history = [record({k: [1.0] * 9 for k in STEADY}, when=WHEN - timedelta(days=1))]
    low = {f"c{i}": [1.0] * 9 if i < 1 else [0.0] * 9 for i in range(9)}  # 11%
    text = verdict(record(low), threshold=0.2, history=history)
    assert text.startswith("Rarely following its instructions: 11% of checks passed after 8 rounds (alert level 20%), "
                           "down from 100% last week; try ")  # fmt: skip


def test_broken_persona_is_said_first() -> None:
    text = verdict(record({"persona-1": [0.0] * 9, **STEADY}, own=("persona-1",)), threshold=0.2)
    assert text.startswith('Not following its own persona: asked "What is your name?" before any conversation, '
                           "it answered \"I'm Emily.\"; check the [persona]")  # fmt: skip


def test_report_and_digest_open_with_the_sentence(home: Path) -> None:
    settings = Settings(probes=ProbesSettings(rounds=1, cases=2, alert_threshold=0.0))
    rec = run_nightly(settings, ScriptedChatModel(lambda m: "I'm Ada."))
    lines = [line for line in render_markdown(rec).splitlines() if line.strip()]
    assert lines[1] == f"**{rec['verdict']}**" and lines[1].startswith("**Still following its instructions after 1")
    assert "## Drift from round 0 (same cases, 95% interval)" in lines
    result = last_result()
    assert result is not None and _probe_line(result) == rec["verdict"]


def test_history_shows_full_ids_and_dates(home: Path) -> None:
    for d in (3, 2, 1):
        rec = record(STEADY, when=WHEN - timedelta(days=d, seconds=17))
        rec["id"] = rec["id"] + "-with-a-long-suffix"
        save_run(rec, plot=False, report=False)
    out = CliRunner().invoke(cli, ["probe", "history"]).output
    for d in (3, 2, 1):
        when = WHEN - timedelta(days=d, seconds=17)
        assert when.strftime("%Y%m%dT%H%M%SZ") + "-abcdef-with-a-long-suffix" in out
        assert when.isoformat() in out
    assert "…" not in out
    assert out.strip().splitlines()[-1].startswith("latest (20261124T022943Z-abcdef-with-a-long-suffix): Still following")


def test_report_shows_drift_from_round_zero_on_the_same_cases() -> None:
    from assistant.probes.report import drift_table

    rec = record(DRIFT)
    table = drift_table(rec)
    assert table.splitlines()[0] == "| control | round 0 -> 4 | round 0 -> 8 |"
    row = table.splitlines()[2]
    assert row.startswith("| ss k=0.50 text | +0.00 [+0.00, +0.00] | -0.67 [")  # 6 of 9 cases lost after round 4

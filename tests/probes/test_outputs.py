"""Run records, PNG plots, Markdown reports and history on disk."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.config import Settings
from assistant.probes.benchmark import run_benchmark
from assistant.probes.history import find_run, last_result, list_runs, runs_dir, save_run
from tests.fakes import ScriptedChatModel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def shouting(messages) -> str:  # type: ignore[no-untyped-def]
    return "AYE! THE ANSWER IS B. PARIS. 42. I AM ADA."


def test_run_writes_json_png_and_markdown(home: Path) -> None:
    record = run_benchmark(Settings(), ScriptedChatModel(shouting), controls=["none", "split_softmax:k=0.5"],
                           cases=5, rounds=2, command="assistant probe run --rounds 2")  # fmt: skip
    files = save_run(record)
    assert Path(files["json"]).parent == runs_dir() == home / "probes" / "runs"
    png = Path(files["png"]).read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    saved = json.loads(Path(files["json"]).read_text())
    assert saved["options"]["seed"] == 1234 and saved["options"]["decoding"] == "greedy"
    assert [c["label"] for c in saved["controls"]] == ["none", "ss k=0.50 text"]
    assert len(saved["controls"][0]["curve"]) == 3  # rounds 0..2
    assert saved["controls"][1]["delta_vs_none_last_round"] is not None
    assert saved["controls"][0]["general"]["n"] >= 20
    md = Path(files["md"]).read_text()
    assert "| control | round 0 | round 2 |" in md and "ss k=0.50 text" in md
    assert "assistant probe run --rounds 2" in md and "seed: 1234" in md


def test_history_keeps_every_run_and_finds_by_prefix(home: Path) -> None:
    ids = []
    for kind in ("manual", "nightly"):
        record = run_benchmark(Settings(), ScriptedChatModel(shouting), controls=["none"], cases=2, rounds=1,
                               kind=kind, general=False)  # fmt: skip
        save_run(record, plot=False)
        ids.append(record["id"])
    assert [r["id"] for r in list_runs()] == ids
    assert find_run(ids[0][:20])["id"] == ids[0]
    assert find_run()["id"] == ids[1]
    result = last_result()
    assert result is not None and result["id"] == ids[1]
    assert set(result) >= {"date", "stability_last_round", "alert"}


def test_last_result_is_none_without_runs(home: Path) -> None:
    assert last_result() is None


def test_damaged_record_is_skipped(home: Path) -> None:
    runs_dir().mkdir(parents=True)
    (runs_dir() / "broken.json").write_text("{not json")
    assert list_runs() == []


def test_report_lists_real_threads(home: Path) -> None:
    from assistant.probes.report import render_markdown

    record = run_benchmark(Settings(), ScriptedChatModel(shouting), controls=["none"], cases=1, rounds=1,
                           general=False)  # fmt: skip
    record["real_threads"] = {"control": "none", "mean": {"mean": 1.0, "lo": 1.0, "hi": 1.0, "n": 1},
                              "threads": [{"index": 0, "turns": 12, "scores": {"persona-1": 1.0}}]}  # fmt: skip
    md = render_markdown(record)
    assert "## Real threads" in md and "| 0 | 12 | persona-1 1.00 |" in md


def test_gain_table_pairs_cases_at_the_last_round_and_over_all_rounds() -> None:
    from assistant.probes.report import gain_table

    # none passes round 0 only; the control keeps 2 of 4 cases to the end and a third to round 1
    none = {f"c{i}": [1.0, 0.0, 0.0] for i in range(4)}
    held = {"c0": [1.0, 1.0, 1.0], "c1": [1.0, 1.0, 1.0], "c2": [1.0, 1.0, 0.0], "c3": [1.0, 0.0, 0.0]}
    record = {"options": {"rounds": 2, "seed": 3},
              "controls": [{"label": "none", "per_case": none}, {"label": "ss", "per_case": held},
                           {"label": "same", "per_case": dict(none)}]}  # fmt: skip
    lines = gain_table(record).splitlines()
    assert lines[0] == "| control | change vs none at round 2 | mean change vs none, rounds 1-2 | cases |"
    assert lines[2].startswith("| ss | +0.50 [+0.00, +1.00] | +0.62 [") and lines[2].endswith("| 4 |")
    assert lines[3] == "| same | +0.00 [+0.00, +0.00] | +0.00 [+0.00, +0.00] | 4 |"
    assert "no `none` control" in gain_table({"options": {"rounds": 2}, "controls": [{"label": "ss", "per_case": held}]})

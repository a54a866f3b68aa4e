"""bench/sifeval.py joins per-control records and prints the README tables without a model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "docs" / "probes" / "sifeval-n0-244items.json"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("sifeval_bench", ROOT / "bench" / "sifeval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _item_line(key: int) -> str:
    return json.dumps({"key": key, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}],
                       "messages": [{"role": "system", "content": "No commas."},
                                    {"role": "user", "content": "Say hi."}]})  # fmt: skip


def _record(label: str, replies: dict[int, str], rounds: list[int]) -> dict[str, Any]:
    items = {str(k): {str(n): {"strict": ["," not in r], "loose": ["," not in r], "truncated": False, "reply": r}
                      for n in rounds} for k, r in replies.items()}  # fmt: skip
    return {"kind": "sifeval", "command": f"run {label}", "data": "", "dropped": {}, "selected_of": 2,
            "items": list(replies), "options": {"rounds": rounds, "filler_tokens": 16, "task_tokens": 64,
                                                "batch_size": 8, "seed": 1},
            "runs": [{"label": label, "items": items}]}  # fmt: skip


def test_merge_pairs_controls_and_tables_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "items.jsonl"
    data.write_text(_item_line(1) + "\n" + _item_line(2) + "\n")
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "all.json"
    a.write_text(json.dumps(_record("none", {1: "hi, you", 2: "hi, there"}, [0, 8])))
    b.write_text(json.dumps(_record("repeat_system", {1: "hi you", 2: "hi there"}, [8])))
    bench = _bench()
    assert bench.main(["--data", str(data), "--merge", str(a), str(b), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["options"]["rounds"] == [0, 8]
    gain = merged["summary"]["repeat_system"]["by_n"]["8"]["prompt_strict_vs_none"]
    assert gain["mean"] == 1.0 and "0" not in merged["summary"]["repeat_system"]["by_n"]
    capsys.readouterr()
    assert bench.main(["--data", str(data), "--tables", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| repeat_system | 8 | 1.000" in text and "GPT-4o 78.1" in text


def test_merge_adds_other_rounds_of_the_same_control(tmp_path: Path) -> None:
    """N = 2 and 4 run later join the N = 0 and 8 run of the same control, item by item."""
    data = tmp_path / "items.jsonl"
    data.write_text(_item_line(1) + "\n" + _item_line(2) + "\n")
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "all.json"
    a.write_text(json.dumps(_record("none", {1: "hi you", 2: "hi there"}, [0, 8])))
    b.write_text(json.dumps(_record("none", {1: "hi, you", 2: "hi there"}, [2, 4])))
    assert _bench().main(["--data", str(data), "--merge", str(a), str(b), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["options"]["rounds"] == [0, 2, 4, 8]
    by_n = merged["summary"]["none"]["by_n"]
    assert [by_n[n]["prompt_strict"]["mean"] for n in ("0", "2", "4", "8")] == [1.0, 0.5, 0.5, 1.0]
    assert len(merged["runs"]) == 1


def test_saved_n0_record_holds_what_readme_reports() -> None:
    record = json.loads(RECORD.read_text())
    assert len(record["items"]) == 244 and sum(record["dropped"].values()) == 30
    none = record["summary"]["none"]["by_n"]["0"]["prompt_strict"]
    assert round(none["mean"] * 244) == 16


def test_saved_phase3_record_holds_what_readme_reports() -> None:
    """Fourteen controls on the 24 items; none and the default also at N = 2 and 4."""
    record = json.loads((ROOT / "docs" / "probes" / "sifeval-phase3-24items.json").read_text())
    summary = record["summary"]
    assert len(record["items"]) == 24 and len(summary) == 14
    assert sorted(summary["none"]["by_n"], key=int) == ["0", "2", "4", "8"]
    at8 = {label: round(s["by_n"]["8"]["prompt_strict"]["mean"] * 24) for label, s in summary.items()}
    assert (at8["none"], at8["ss k=0.50 text"], at8["ib b=4 text"], at8["ib b=10 text"]) == (3, 5, 2, 4)
    # The rule's first part: no new control's N = 8 interval vs none lies above 0.
    for label in ("ib b=4 text", "ib b=10 text", "ss k=0.50 text L0-14", "ss k=0.50 text L15-29",
                  "ss k=0.50 text +rep"):  # fmt: skip
        assert summary[label]["by_n"]["8"]["prompt_strict_vs_none"]["lo"] <= 0.0

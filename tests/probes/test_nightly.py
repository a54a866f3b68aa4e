"""Nightly mode: alerts on thresholds and on the trailing week; records saved; memory untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.config import ProbesSettings, Settings
from assistant.probes.history import last_result, list_runs
from assistant.probes.nightly import check_alerts, run_nightly
from tests.fakes import ScriptedChatModel

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def synthetic(day_offset: float, curve: list[float], label: str = "none", kind: str = "nightly") -> dict[str, Any]:
    when = NOW + timedelta(days=day_offset)
    return {
        "id": f"run-{day_offset}-{label}", "date": when.isoformat(), "kind": kind,
        "controls": [{"label": label, "curve": [{"round": r, "mean": m} for r, m in enumerate(curve)]}],
    }  # fmt: skip


def test_threshold_alert_names_control_and_rounds() -> None:
    alerts = check_alerts(synthetic(0, [0.9, 0.6, 0.4]), threshold=0.5, trailing_days=7, history=[])
    assert alerts == ["'none': only 40% of instruction checks passed at round 2, at or below the alert "
                      "level of 50% (low at round 2)"]  # fmt: skip


def test_trailing_week_alert_compares_same_round() -> None:
    history = [synthetic(-1, [0.9, 0.8, 0.8]), synthetic(-3, [0.9, 0.8, 0.6])]  # week mean r2 = 0.7
    alerts = check_alerts(synthetic(0, [0.9, 0.8, 0.65]), threshold=0.5, trailing_days=7, history=history)
    assert len(alerts) == 1 and "the last 7 days at round 2 (round 2: 65% now vs 70% on average" in alerts[0]


def test_no_alert_when_steady_or_history_is_old_or_manual() -> None:
    steady = [synthetic(-1, [0.9, 0.8, 0.7])]
    assert check_alerts(synthetic(0, [0.9, 0.8, 0.7]), threshold=0.5, trailing_days=7, history=steady) == []
    old = [synthetic(-8, [1.0, 1.0, 1.0]), synthetic(-1, [1.0, 1.0, 1.0], kind="manual")]
    assert check_alerts(synthetic(0, [0.9, 0.8, 0.7]), threshold=0.5, trailing_days=7, history=old) == []
    other = [synthetic(-1, [1.0, 1.0, 1.0], label="ss k=0.50 text")]
    assert check_alerts(synthetic(0, [0.9, 0.8, 0.7]), threshold=0.5, trailing_days=7, history=other) == []


def forgetful(messages) -> str:  # type: ignore[no-untyped-def]
    return "Hello! How can I help?"


def test_run_nightly_saves_record_and_sends_one_alert(home: Path) -> None:
    sent: list[str] = []
    settings = Settings(probes=ProbesSettings(rounds=2, cases=3, alert_threshold=0.9))
    record = run_nightly(settings, ScriptedChatModel(forgetful), alert=sent.append)
    assert record["alert"] and len(sent) == 1 and "Self-probe alert" in sent[0]
    assert [r["id"] for r in list_runs(kind="nightly")] == [record["id"]]
    assert Path(record["files"]["png"]).is_file()
    result = last_result()
    assert result is not None and result["alert"] is True and result["control"] == "ss k=0.50 text"
    assert result["cases"] == 4  # the persona probe + 3 suite cases


def test_run_nightly_without_problems_sends_nothing(home: Path) -> None:
    sent: list[str] = []
    settings = Settings(probes=ProbesSettings(rounds=1, cases=2, alert_threshold=0.0))
    record = run_nightly(settings, ScriptedChatModel(lambda m: "Hello! I'm Ada. How can I help?"), alert=sent.append)
    assert not record["alert"] and sent == []


def test_probe_branches_leave_a_real_memory_store_untouched(home: Path, tmp_path: Path) -> None:
    from memory.store import open_store

    settings = Settings(probes=ProbesSettings(rounds=1, cases=2))
    with open_store(settings, path=tmp_path / "chroma") as store:
        store.profile.remember("local", "My dog is called Biscuit.")
        before = {k: v for k, v in store.profile.export("local").items() if k != "exported"}
        goals = store.goals.list("local")
        run_nightly(settings, ScriptedChatModel(lambda m: "Remember: my name is Zed."), store=store)
        after = {k: v for k, v in store.profile.export("local").items() if k != "exported"}
        assert after == before  # no fact learnt from "my name is Zed" in the probe chats
        assert store.goals.list("local") == goals
        assert [f.text for f in store.profile.facts("local")] == ["My dog is called Biscuit."]

"""A benchmark record rebuilds its finished controls, so an interrupted grid run can resume."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from assistant.config import Settings
from assistant.errors import ProbeError
from assistant.llm.base import Message
from assistant.probes.benchmark import build_record, pick_cases, pool_records, runs_from_record
from assistant.probes.controls import parse_controls
from assistant.probes.runner import RunOptions, run_controls
from assistant.probes.suite import load_general, load_partners
from tests.fakes import ScriptedChatModel


def forgets(messages: Sequence[Message]) -> str:
    """Follows its prompt's first word early, then answers the same thing whatever the prompt."""
    return str(messages[0]["content"]).split()[0] if len(messages) < 5 else "B. Aye, Ada."


def test_record_round_trip_then_one_more_control() -> None:
    settings = Settings()
    cases = pick_cases(settings, families=["choice", "identity"], limit=6)
    opts = RunOptions(rounds=2, max_new_tokens=8)
    llm = ScriptedChatModel(forgets)
    when = datetime(2026, 11, 30, tzinfo=UTC)
    controls = parse_controls(["none", "split_softmax:k=0.5,span=text", "repeat_system"], settings)
    full = run_controls(llm, cases, controls, opts, partners=load_partners(), general=load_general())
    whole = build_record(full, opts, kind="bench", model="m", command="", headline="none", started=when)
    part = build_record(full[:2], opts, kind="bench", model="m", command="", headline="none", started=when)
    rebuilt = runs_from_record(part, cases, settings)
    assert [r.control for r in rebuilt] == controls[:2]
    resumed = build_record([*rebuilt, full[2]], opts, kind="bench", model="m", command="", headline="none",
                           started=when)  # fmt: skip
    for a, b in zip(resumed["controls"], whole["controls"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_resume_refuses_other_cases() -> None:
    settings = Settings()
    cases = pick_cases(settings, families=["choice"], limit=3)
    opts = RunOptions(rounds=1, max_new_tokens=8)
    runs = run_controls(ScriptedChatModel(forgets), cases, parse_controls(["none"], settings), opts,
                        partners=load_partners())  # fmt: skip
    record = build_record(runs, opts, kind="bench", model="m", command="", headline="none",
                          started=datetime.now(UTC))  # fmt: skip
    with pytest.raises(ProbeError, match="other cases"):
        runs_from_record(record, pick_cases(settings, families=["recall"], limit=3), settings)


def _record(cases: list, controls: list[str], opts: RunOptions, when: datetime) -> dict:  # type: ignore[type-arg]
    settings = Settings()
    runs = run_controls(ScriptedChatModel(forgets), cases, parse_controls(controls, settings), opts,
                        partners=load_partners(), general=load_general())  # fmt: skip
    return build_record(runs, opts, kind="bench", model="m", command="c", headline="none", started=when)


def test_pooling_joins_disjoint_cases_and_keeps_each_case_paired() -> None:
    settings = Settings()
    opts = RunOptions(rounds=2, max_new_tokens=8)
    when = datetime(2026, 11, 30, tzinfo=UTC)
    first = _record(pick_cases(settings, families=["identity"], limit=4, persona=False), ["none", "repeat_system"],
                    opts, when)  # fmt: skip
    second = _record(pick_cases(settings, families=["choice"], limit=3, persona=False),
                     ["none", "repeat_system", "split_softmax:k=0.5,span=text"], opts, when)  # fmt: skip
    runs, dropped = pool_records([first, second], settings)
    assert [r.control.label for r in runs] == ["none", "repeat_system"] and dropped == ["ss k=0.50 text"]
    pooled = build_record(runs, opts, kind="bench", model="m", command="", headline="none", started=when)
    assert len(pooled["cases"]) == 7
    for part in (first, second):
        for label in ("none", "repeat_system"):
            mine = next(c for c in part["controls"] if c["label"] == label)["per_case"]
            joined = next(c for c in pooled["controls"] if c["label"] == label)["per_case"]
            assert {k: joined[k] for k in mine} == mine
    assert pooled["controls"][0]["general"] == first["controls"][0]["general"]


def test_pooling_refuses_shared_cases_and_other_options() -> None:
    settings = Settings()
    opts = RunOptions(rounds=1, max_new_tokens=8)
    when = datetime(2026, 11, 30, tzinfo=UTC)
    cases = pick_cases(settings, families=["recall"], limit=2, persona=False)
    one = _record(cases, ["none"], opts, when)
    with pytest.raises(ProbeError, match="in both"):
        pool_records([one, _record(cases, ["none"], opts, when)], settings)
    other = _record(pick_cases(settings, families=["choice"], limit=2, persona=False), ["none"],
                    RunOptions(rounds=2, max_new_tokens=8), when)  # fmt: skip
    with pytest.raises(ProbeError, match="other rounds"):
        pool_records([one, other], settings)

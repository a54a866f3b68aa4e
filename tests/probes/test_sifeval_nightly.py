"""The nightly self-probe carries S-IFEval constraints: opt-in family, own answer budget,
IFEval's checkers, the same verdict line and alert (scripted model; one slow real-model run)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.config import ProbesSettings, Settings
from assistant.llm.base import ChatResult, Message
from assistant.probes.benchmark import pick_cases
from assistant.probes.nightly import run_nightly
from assistant.probes.suite import load_suite
from tests.fakes import ScriptedChatModel


class BudgetRecorder(ScriptedChatModel):
    """Also records the answer budget each conversation was given."""

    def __init__(self, replies: Any) -> None:
        super().__init__(replies)
        self.budgets: list[tuple[str, int]] = []

    def chat_batch(self, conversations: Sequence[Sequence[Message]], **kwargs: Any) -> list[ChatResult]:
        self.budgets += [(c[-1]["content"], int(kwargs["max_new_tokens"])) for c in conversations]
        return [self.chat(c) for c in conversations]


def obeys(messages: Sequence[Message]) -> str:
    """Follows every shipped constraint: a <<title>>, lowercase english, no commas, many g's."""
    if messages[-1]["content"] == "What is your name?":
        return "I am Ada."
    return "<<a good gig>>\n\ngreen grass and a big frog sing a long song in the glen at the edge of a gorge"


def forgets(messages: Sequence[Message]) -> str:
    return "I am Ada. Sure, here is a plain answer, with commas, and no title."


def test_sifeval_is_opt_in_and_its_cases_carry_their_budget() -> None:
    assert not any(c.family == "sifeval" for c in load_suite())
    cases = [c for c in pick_cases(Settings(), families=["sifeval"]) if c.family == "sifeval"]
    assert len(cases) == 8 and all(c.judge == "ifeval" and c.max_new_tokens == 48 for c in cases)


def test_nightly_asks_sifeval_tasks_with_their_own_budget(home: Path) -> None:
    llm = BudgetRecorder(obeys)
    settings = Settings(probes=ProbesSettings(rounds=1, cases=4, families=["recall", "sifeval"],
                                              controls=["none"], alert_threshold=0.0))  # fmt: skip
    record = run_nightly(settings, llm)
    tasks = {c["probe"] for c in record["cases"] if c["family"] == "sifeval"}
    assert len(tasks) == 2
    budgets = {b for text, b in llm.budgets if text in tasks}
    others = {b for text, b in llm.budgets if text == "What is your name?"}
    assert budgets == {48} and others == {12}


def test_constraints_that_hold_pass_and_lost_ones_alert(home: Path) -> None:
    held = Settings(probes=ProbesSettings(rounds=2, cases=8, families=["sifeval"], controls=["none"]))
    record = run_nightly(held, ScriptedChatModel(obeys))
    assert record["verdict"].startswith("Still following its instructions after 2 rounds: 100% of checks")
    sent: list[str] = []
    record = run_nightly(held, ScriptedChatModel(forgets), alert=sent.append)
    assert record["verdict"].startswith("Rarely following its instructions")
    assert len(sent) == 1 and "Self-probe alert" in sent[0]


@pytest.mark.slow
def test_real_model_keeps_a_title_constraint_before_any_chat(real_engine: object, home: Path) -> None:
    """The default keeps at least one shipped S-IFEval constraint at round 0, as measured."""
    settings = Settings(probes=ProbesSettings(rounds=1, cases=3, families=["sifeval"], controls=["split_softmax"],
                                              alert_threshold=0.0))  # fmt: skip
    record = run_nightly(settings, real_engine)  # type: ignore[arg-type]
    control = record["controls"][0]
    scores = [v[0] for k, v in control["per_case"].items() if k.startswith("sifeval-")]
    assert len(scores) == 3 and sum(scores) >= 1
    assert record["options"]["probe_max_new_tokens"] == 12  # the other probes keep their short budget
    assert record["verdict"]

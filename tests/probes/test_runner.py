"""Self-chat with probe branches, against a scripted model that records what it is shown."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from assistant.llm.base import ChatResult, DriftControl, Message
from assistant.probes.controls import parse_controls
from assistant.probes.runner import (
    B_START,
    RunOptions,
    general_ability,
    run_controls,
    self_chat,
    steps_per_control,
)
from assistant.probes.suite import Partner, ProbeCase, load_general
from tests.fakes import ScriptedChatModel

CASE = ProbeCase(id="c1", family="persona", system_prompt="Your name is Zed.", probe="Who are you?",
                 judge="name", args={"name": "Zed"})  # fmt: skip
PARTNER = Partner(id="p", persona="You play a user planning a trip.", opener="Where should I go?")


class RecordingModel(ScriptedChatModel):
    """A scripted model that also records the drift control and seed of each batch."""

    def __init__(self, replies) -> None:  # type: ignore[no-untyped-def]
        super().__init__(replies)
        self.batches: list[tuple[DriftControl | None, int | None, float | None, int]] = []

    def chat_batch(self, conversations: Sequence[Sequence[Message]], **kwargs: object) -> list[ChatResult]:
        self.batches.append((kwargs.get("control"), kwargs.get("seed"), kwargs.get("temperature"),
                             len(conversations)))  # type: ignore[arg-type]  # fmt: skip
        return [self.chat(c) for c in conversations]


def drifting(messages: Sequence[Message]) -> str:
    """Zed answers the probe by name for two rounds of chat, then forgets."""
    if messages[0]["content"] == PARTNER.persona:
        return "Sounds good, what next?"
    if messages[-1]["content"] == CASE.probe:
        rounds = sum(1 for m in messages if m["role"] == "assistant")
        return "I am Zed." if rounds < 2 else "I am your assistant."
    return "Let's plan it."


def test_probe_after_each_round_and_branches_are_discarded() -> None:
    model = RecordingModel(drifting)
    control = parse_controls(["none"])[0]
    traces = self_chat(model, [CASE], [PARTNER], control, RunOptions(rounds=3, seed=5))
    assert traces[0].scores == [[1.0], [1.0], [0.0], [0.0]]  # rounds 0..3: drift after round 1
    probes = [c for c in model.calls if c[-1]["content"] == CASE.probe]
    assert probes[0] == [{"role": "system", "content": CASE.system_prompt}, {"role": "user", "content": CASE.probe}]
    # the conversation that continues never contains an earlier probe or its answer
    for call in model.calls:
        assert all(m["content"] != CASE.probe for m in call[:-1])
        assert "I am Zed." not in [m["content"] for m in call]
    a_turns = [c for c in model.calls if c[0]["content"] == CASE.system_prompt and c[-1]["content"] != CASE.probe]
    assert [len(c) for c in a_turns] == [2, 4, 6]  # system, opener, then one more exchange per round


def test_agent_b_sees_roles_swapped_and_its_own_persona() -> None:
    model = RecordingModel(drifting)
    self_chat(model, [CASE], [PARTNER], parse_controls(["none"])[0], RunOptions(rounds=2))
    b_call = next(c for c in model.calls if c[0]["content"] == PARTNER.persona)
    assert [m["role"] for m in b_call] == ["system", "user", "assistant", "user"]
    assert b_call[1]["content"] == B_START and b_call[2]["content"] == PARTNER.opener
    assert b_call[3]["content"] == "Let's plan it."


def test_control_reaches_agent_a_and_probes_but_not_agent_b() -> None:
    model = RecordingModel(drifting)
    control = parse_controls(["split_softmax:k=0.25,span=text"])[0]
    self_chat(model, [CASE], [PARTNER], control, RunOptions(rounds=2))
    kinds = [b[0].kind for b in model.batches]  # type: ignore[union-attr]
    # probe r0, A r1, probe r1, B r1, A r2, probe r2
    assert kinds == ["split_softmax", "split_softmax", "split_softmax", "none", "split_softmax", "split_softmax"]


def test_greedy_by_default_with_fixed_reported_seeds() -> None:
    runs = []
    for _ in range(2):
        model = RecordingModel(drifting)
        self_chat(model, [CASE], [PARTNER], parse_controls(["none"])[0], RunOptions(rounds=2, seed=42, samples=3))
        runs.append(model.batches)
    assert runs[0] == runs[1]
    assert all(b[2] == 0.0 for b in runs[0])  # greedy
    assert [b[3] for b in runs[0]][:1] == [1]  # samples collapse to one answer under greedy decoding
    assert [b[1] for b in runs[0]] == [42 + 1, 42 + 1000, 42 + 1001, 42 + 1002, 42 + 2000, 42 + 2001]


def test_sampling_asks_for_several_answers_per_probe() -> None:
    model = RecordingModel(drifting)
    traces = self_chat(model, [CASE], [PARTNER], parse_controls(["none"])[0],
                       RunOptions(rounds=1, samples=3, temperature=0.8))  # fmt: skip
    assert [len(s) for s in traces[0].scores] == [3, 3]


def test_general_ability_scores_known_answers() -> None:
    system, questions = load_general()
    answers = {"What is the capital of France?": "It is Paris.", "What is 2 + 3?": "Five."}
    model = RecordingModel(lambda m: answers.get(m[-1]["content"], "I do not know."))
    result = general_ability(model, system, questions, parse_controls(["none"])[0], RunOptions())
    assert result.per_question["capital-france"] == 1.0 and result.per_question["add-small"] == 1.0
    assert result.estimate.mean == 2 / len(questions)


def test_run_controls_reports_progress_to_the_end() -> None:
    seen: list[tuple[str, int, int]] = []
    opts = RunOptions(rounds=2)
    controls = parse_controls(["none", "repeat_system"])
    runs = run_controls(RecordingModel(drifting), [CASE], controls, opts, partners=[PARTNER],
                        general=load_general(), progress=lambda *a: seen.append(a))  # fmt: skip
    total = 2 * steps_per_control(opts, True)
    assert seen[-1][1:] == (total, total) and len(seen) == total
    assert [r.control.label for r in runs] == ["none", "repeat_system"]
    assert [round(e.mean, 2) for e in runs[0].curve()] == [1.0, 1.0, 0.0]


def test_runner_cannot_reach_memory_or_slack() -> None:
    params = set(inspect.signature(run_controls).parameters) | set(inspect.signature(self_chat).parameters)
    assert not params & {"store", "memory", "slack", "client", "checkpointer"}


def test_reply_cut_by_the_budget_fails_length_rules() -> None:
    short = ProbeCase(id="s", family="format", system_prompt="Under ten words.", probe="Explain tides.",
                      judge="max_words", args={"n": 10})  # fmt: skip

    class Cut(RecordingModel):
        def chat(self, messages, **kwargs):  # type: ignore[no-untyped-def]
            result = super().chat(messages, **kwargs)
            result.finish_reason = "length"
            return result

    traces = self_chat(Cut(lambda m: "The moon pulls"), [short], [PARTNER], parse_controls(["none"])[0],
                       RunOptions(rounds=0))  # fmt: skip
    assert traces[0].scores == [[0.0]]
    traces = self_chat(RecordingModel(lambda m: "The moon pulls"), [short], [PARTNER],
                       parse_controls(["none"])[0], RunOptions(rounds=0))  # fmt: skip
    assert traces[0].scores == [[1.0]]

"""Self-chat with probe branches, and the general-ability check, under one drift control.

Agent A carries the system prompt under test; agent B (a `Partner`) plays the user. After
each of A's turns (and once before any chat, round 0) the probe question is appended as
the next user message in a copy of the conversation; A answers, the judge scores the
answer, and the branch is thrown away. The runner is given a language model and nothing
else: it cannot reach memory, Slack or history, so probe branches cannot leak there.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.llm.base import ChatModel, DriftControl, Message
from assistant.probes.controls import Control
from assistant.probes.judges import contains, score
from assistant.probes.stats import Estimate, mean_ci
from assistant.probes.suite import GeneralQuestion, Partner, ProbeCase

# (what is happening, steps done, steps in all)
Progress = Callable[[str, int, int], None]

B_START = "Start the conversation."  # B's view needs a user turn before its opener
B_FALLBACK = "Could you tell me more about that?"
ANSWER_CHARS = 400  # answers kept in the run record, per probe
# judges about length or the reply's end: a reply cut by the token budget cannot pass them
BUDGET_JUDGES = frozenset({"max_words", "max_sentences", "ends_with"})


@dataclass(frozen=True)
class RunOptions:
    """How a benchmark run generates; every seed derives from `seed` (see `stage_seed`)."""

    rounds: int = 4
    samples: int = 1
    seed: int = 1234
    temperature: float = 0.0
    max_new_tokens: int = 96
    batch_size: int = 32
    partner_max_new_tokens: int | None = None  # agent B's reply budget; None = max_new_tokens
    general_max_new_tokens: int | None = None  # general-ability answers; None = max_new_tokens
    probe_max_new_tokens: int | None = None  # probe answers; None = max_new_tokens

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.samples < 1 or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("rounds >= 0, samples >= 1, batch_size >= 1, max_new_tokens >= 1")

    @property
    def effective_samples(self) -> int:
        """Greedy decoding gives the same answer every time, so one sample is enough."""
        return 1 if self.temperature == 0 else self.samples


def stage_seed(seed: int, round_: int, stage: int) -> int:
    """Seed for one batched step: stage 0 = A's turn, 1 = probe, 2 = B's turn, 3 = general."""
    return seed + 1000 * round_ + stage


@dataclass
class CaseTrace:
    """One case's probe scores and answers: `scores[round][sample]`."""

    case: ProbeCase
    partner: str
    scores: list[list[float]] = field(default_factory=list)
    answers: list[list[str]] = field(default_factory=list)

    def round_means(self) -> list[float]:
        return [sum(s) / len(s) for s in self.scores]


@dataclass
class GeneralResult:
    """General-ability score under one control."""

    estimate: Estimate
    per_question: dict[str, float]
    answers: dict[str, str]


@dataclass
class ControlRun:
    """Everything measured under one drift control."""

    control: Control
    traces: list[CaseTrace]
    general: GeneralResult | None
    seconds: float

    def curve(self, seed: int = 0) -> list[Estimate]:
        """Mean probe score per round (0..R) with a bootstrap 95% interval over cases."""
        rounds = len(self.traces[0].scores) if self.traces else 0
        return [mean_ci([t.round_means()[r] for t in self.traces], seed=seed + r) for r in range(rounds)]


def assign_partners(cases: Sequence[ProbeCase], partners: Sequence[Partner], seed: int) -> list[Partner]:
    """A seeded, balanced pairing of cases with user personas (same for every control)."""
    order = list(partners)
    random.Random(seed).shuffle(order)
    return [order[i % len(order)] for i in range(len(cases))]


def _generate(
    llm: ChatModel,
    convs: Sequence[Sequence[Message]],
    control: DriftControl,
    opts: RunOptions,
    seed: int,
    max_new_tokens: int | None = None,
) -> list[str]:
    return [text for text, _ in _generate_full(llm, convs, control, opts, seed, max_new_tokens)]


def _generate_full(
    llm: ChatModel,
    convs: Sequence[Sequence[Message]],
    control: DriftControl,
    opts: RunOptions,
    seed: int,
    max_new_tokens: int | None = None,
) -> list[tuple[str, bool]]:
    """Replies with whether each was cut off by the token budget."""
    out: list[tuple[str, bool]] = []
    for start in range(0, len(convs), opts.batch_size):
        chunk = convs[start : start + opts.batch_size]
        results = llm.chat_batch(
            chunk, max_new_tokens=max_new_tokens or opts.max_new_tokens, temperature=opts.temperature,
            seed=seed + start, control=control, priority="background",
        )  # fmt: skip
        out += [(r.text.strip(), r.finish_reason == "length") for r in results]
    return out


def _probe_answers(
    llm: ChatModel,
    branches: Sequence[Sequence[Message]],
    cases: Sequence[ProbeCase],
    control: DriftControl,
    opts: RunOptions,
    seed: int,
) -> list[tuple[str, bool]]:
    """Probe answers in branch order; cases with their own budget (S-IFEval tasks need a
    whole reply, most probes a few words) are batched separately."""
    budgets = [c.max_new_tokens or opts.probe_max_new_tokens for c in cases]
    out: list[tuple[str, bool]] = [("", False)] * len(branches)
    for budget in dict.fromkeys(budgets):
        rows = [i for i, b in enumerate(budgets) if b == budget]
        # offset by the group's first row: with one budget (the usual case) seeds are as before
        got = _generate_full(llm, [branches[i] for i in rows], control, opts, seed + rows[0], budget)
        for i, answer in zip(rows, got, strict=True):
            out[i] = answer
    return out


def judge_answer(case: ProbeCase, answer: str, truncated: bool) -> float:
    """Score one probe answer; a reply cut off by the budget fails length and ending rules."""
    if truncated and case.judge in BUDGET_JUDGES:
        return 0.0  # e.g. "under 15 words" cannot pass by being cut at max_new_tokens
    return score(case.judge, answer, case.args)


def _b_view(partner: Partner, conv: Sequence[Message]) -> list[Message]:
    """Agent B's side of the same conversation: roles swapped, its own persona on top."""
    view: list[Message] = [{"role": "system", "content": partner.persona}, {"role": "user", "content": B_START}]
    for m in conv[1:]:
        view.append({"role": "assistant" if m["role"] == "user" else "user", "content": m["content"]})
    return view


def self_chat(
    llm: ChatModel,
    cases: Sequence[ProbeCase],
    partners: Sequence[Partner],
    control: Control,
    opts: RunOptions,
    *,
    progress: Progress | None = None,
    step: list[int] | None = None,
    total: int = 0,
) -> list[CaseTrace]:
    """Run R rounds of self-chat for every case at once (batched), probing after each of A's turns."""
    pairing = assign_partners(cases, partners, opts.seed)
    traces = [CaseTrace(case=c, partner=p.id) for c, p in zip(cases, pairing, strict=True)]
    convs: list[list[Message]] = [
        [{"role": "system", "content": c.system_prompt}, {"role": "user", "content": p.opener}]
        for c, p in zip(cases, pairing, strict=True)
    ]
    none = DriftControl(kind="none")
    step = step if step is not None else [0]

    def tick(what: str) -> None:
        step[0] += 1
        if progress:
            progress(f"{control.label}: {what}", step[0], total)

    def probe(round_: int, history: Sequence[Sequence[Message]]) -> None:
        s = opts.effective_samples
        branches: list[list[Message]] = [
            [*h, {"role": "user", "content": c.probe}]
            for h, c in zip(history, cases, strict=True)
            for _ in range(s)
        ]  # copies: the conversation itself never sees the probe
        answers = _probe_answers(llm, branches, [c for c in cases for _ in range(s)], control.drift, opts,
                                 stage_seed(opts.seed, round_, 1))  # fmt: skip
        for i, trace in enumerate(traces):
            mine = answers[i * s : (i + 1) * s]
            trace.answers.append([a[:ANSWER_CHARS] for a, _ in mine])
            trace.scores.append([judge_answer(trace.case, a, cut) for a, cut in mine])
        tick(f"round {round_} probe")

    probe(0, [c[:1] for c in convs])
    for r in range(1, opts.rounds + 1):
        replies = _generate(llm, convs, control.drift, opts, stage_seed(opts.seed, r, 0))
        for conv, reply in zip(convs, replies, strict=True):
            conv.append({"role": "assistant", "content": reply})
        tick(f"round {r} agent A")
        probe(r, convs)
        if r < opts.rounds:
            views = [_b_view(p, conv) for p, conv in zip(pairing, convs, strict=True)]
            user_turns = _generate(llm, views, none, opts, stage_seed(opts.seed, r, 2), opts.partner_max_new_tokens)
            for conv, text in zip(convs, user_turns, strict=True):
                conv.append({"role": "user", "content": text or B_FALLBACK})
            tick(f"round {r} agent B")
    return traces


def general_ability(
    llm: ChatModel, system_prompt: str, questions: Sequence[GeneralQuestion], control: Control, opts: RunOptions
) -> GeneralResult:
    """Answer the built-in questions under `control`; 1 per question whose answer appears."""
    convs: list[list[Message]] = [
        [{"role": "system", "content": system_prompt}, {"role": "user", "content": q.question}] for q in questions
    ]
    answers = _generate(llm, convs, control.drift, opts, stage_seed(opts.seed, 0, 3), opts.general_max_new_tokens)
    per = {q.id: contains(a, list(q.answers)) for q, a in zip(questions, answers, strict=True)}
    return GeneralResult(
        estimate=mean_ci(list(per.values()), seed=opts.seed),
        per_question=per,
        answers={q.id: a[:ANSWER_CHARS] for q, a in zip(questions, answers, strict=True)},
    )


def steps_per_control(opts: RunOptions, with_general: bool) -> int:
    """Progress steps one control takes (probes, A turns, B turns, general)."""
    return 1 + 2 * opts.rounds + max(opts.rounds - 1, 0) + (1 if with_general else 0)


def run_controls(
    llm: ChatModel,
    cases: Sequence[ProbeCase],
    controls: Sequence[Control],
    opts: RunOptions,
    *,
    partners: Sequence[Partner],
    general: tuple[str, Sequence[GeneralQuestion]] | None = None,
    progress: Progress | None = None,
) -> list[ControlRun]:
    """The whole comparison: self-chat and general ability under each control, same seeds."""
    total = len(controls) * steps_per_control(opts, general is not None)
    step = [0]
    runs = []
    for control in controls:
        t0 = time.perf_counter()
        traces = self_chat(llm, cases, partners, control, opts, progress=progress, step=step, total=total)
        result = None
        if general is not None:
            result = general_ability(llm, general[0], general[1], control, opts)
            step[0] += 1
            if progress:
                progress(f"{control.label}: general ability", step[0], total)
        runs.append(ControlRun(control, traces, result, time.perf_counter() - t0))
    return runs

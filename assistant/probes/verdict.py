"""One plain sentence a user reads first: is the assistant still following its instructions?

It speaks about the control chat actually uses (the record's headline), in percent of
checks passed, with what changed since last week and, when something is wrong, what to
try. No statistics words: the intervals decide, the sentence only says the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assistant.probes.alerts import EPS, first_persona_failure
from assistant.probes.stats import paired_delta
from assistant.probes.trend import trailing


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _headline(record: dict[str, Any]) -> dict[str, Any] | None:
    controls: list[dict[str, Any]] = record.get("controls", [])
    return next((c for c in controls if c.get("label") == record.get("headline")), controls[0] if controls else None)


def _plain(label: str) -> str:
    """A control in words, for the 'try ...' advice."""
    if label == "none":
        return "the plain model"
    if label.startswith("ss "):
        _, k, span = (label.split() + ["", ""])[:3]
        return f"the instruction-keeping setting ([split_softmax] {k.replace('=', ' = ')}, span = \"{span}\")"
    if label == "repeat_system":
        return "repeating the instructions before every message"
    if label.startswith("cfg"):
        return "prompt guidance"
    return label


def _drop(control: dict[str, Any], seed: int) -> tuple[float, float]:
    """Mean change from round 0 to the last round over the same cases, and its upper bound."""
    per = [v for v in control.get("per_case", {}).values() if v]
    if not per:
        curve = control["curve"]
        change = curve[-1]["mean"] - curve[0]["mean"]
        return change, change
    est = paired_delta([v[-1] for v in per], [v[0] for v in per], seed=seed)
    return est.mean, est.hi


def _week(record: dict[str, Any], control: dict[str, Any], history: list[dict[str, Any]] | None, days: int) -> str:
    """'no change from last week' / 'down from 70% last week' / '' without history."""
    if history is None or not control["curve"]:
        return ""
    last = control["curve"][-1]
    others = [h for h in history if h.get("id") != record.get("id")]
    past = trailing(control["label"], before=datetime.fromisoformat(record["date"]), days=days, kind="nightly",
                    runs=others)  # fmt: skip
    week = past[last["round"]] if last["round"] < len(past) else None
    if week is None:
        return "the first check this week"
    if last.get("hi", last["mean"]) < week - EPS:
        return f"down from {_pct(week)} last week"
    if last.get("lo", last["mean"]) > week + EPS:
        return f"up from {_pct(week)} last week"
    return "no change from last week"


def _advice(record: dict[str, Any], head: dict[str, Any]) -> str:
    """What to try: a control that held better in this very run, else a general step."""
    better = [c for c in record.get("controls", []) if c is not head and c.get("label") != "none"
              and (c.get("delta_vs_none_last_round") or {}).get("lo", -1.0) > 0
              and c["last_round"]["mean"] > head["last_round"]["mean"] + EPS]  # fmt: skip
    if better:
        best = max(better, key=lambda c: c["last_round"]["mean"])
        return f"try {_plain(best['label'])}, which kept {_pct(best['last_round']['mean'])} in this run"
    if head["label"] == "none":
        return "try turning on the instruction-keeping setting ([split_softmax] enabled = true in config.toml)"
    return ("try starting long conversations afresh more often, and compare settings with "
            "`assistant probe run --controls all`")  # fmt: skip


def verdict(
    record: dict[str, Any],
    *,
    threshold: float | None = None,
    history: list[dict[str, Any]] | None = None,
    trailing_days: int = 7,
) -> str:
    """The sentence that opens the report and the digest line."""
    head = _headline(record)
    if head is None or not head.get("curve"):
        return "No instruction checks were run."
    rounds = head["curve"][-1]["round"]
    first, last = head["curve"][0]["mean"], head["curve"][-1]["mean"]
    after = f"after {rounds} round{'s' if rounds != 1 else ''}"
    week = _week(record, head, history, trailing_days)
    tail = f", {week}" if week else ""
    failure = first_persona_failure(record, head)
    if failure is not None:
        probe, round_, said = failure
        when = "before any conversation" if round_ == 0 else f"after {round_} round{'s' if round_ != 1 else ''}"
        return (f'Not following its own persona: asked "{probe}" {when}, it answered "{said}"; '
                "check the [persona] system prompt and probes in config.toml.")  # fmt: skip
    change, change_hi = _drop(head, int(record.get("options", {}).get("seed", 0)))
    if threshold is not None and last <= threshold + EPS:
        return (f"Rarely following its instructions: {_pct(last)} of checks passed {after} "
                f"(alert level {_pct(threshold)}){tail}; {_advice(record, head)}.")  # fmt: skip
    if change_hi < -EPS:
        return (f"Drifting: {_pct(first)} of checks passed at the start of a conversation, {_pct(last)} {after}"
                f"{tail}; {_advice(record, head)}.")  # fmt: skip
    return f"Still following its instructions {after}: {_pct(last)} of checks{tail}."

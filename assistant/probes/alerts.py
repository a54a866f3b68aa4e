"""When a nightly self-probe should wake the user, in words the user reads, and where it goes.

Three rules, checked on the control the assistant actually chats with (the record's
headline; every control when a record names none):

- the persona's own probes (config.toml ``[[persona.probes]]``) fail at any round,
  round 0 included: a broken system prompt shows before any chat happens;
- the mean score at any round is at or below ``probes.alert_threshold``;
- at some round the run's whole 95% interval lies below the trailing-week mean of the
  same control at that round (a drop bigger than the run's own margin of error).

`check_alerts` is a pure function of the record and earlier records; `assistant.app.App.alert`
is the ``alert=`` callable (a Slack post) that the nightly job passes to `run_nightly`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from assistant.probes.trend import trailing

log = logging.getLogger(__name__)
EPS = 1e-9  # float noise: 0.2 stored as 0.2000000001 is still "at" the threshold
PASS_MARK = 0.5  # a persona probe scoring below this failed (judges are 0/1 or shares)
OWN_ID = re.compile(r"^persona-\d+$")  # records made before cases carried "own"
ANSWER_SHOWN = 80  # characters of a failing answer quoted in the alert


def _rounds(rounds: Sequence[int]) -> str:
    return ("round " if len(rounds) == 1 else "rounds ") + ", ".join(map(str, rounds))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def alerted_controls(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The controls whose results can alert: the one chat uses, else all of them."""
    controls: list[dict[str, Any]] = record.get("controls", [])
    head = [c for c in controls if c.get("label") == record.get("headline")]
    return head or controls


def own_cases(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's cases that are the persona's own probes."""
    return [c for c in record.get("cases", []) if c.get("own", bool(OWN_ID.match(str(c.get("id", "")))))]


def _persona_fails(record: dict[str, Any], control: dict[str, Any]) -> list[tuple[dict[str, Any], list[int], str]]:
    """Per failing own probe: its case entry, the rounds it failed, and its first failing answer."""
    out = []
    for case in own_cases(record):
        scores = control.get("per_case", {}).get(case["id"], [])
        failed = [r for r, s in enumerate(scores) if s < PASS_MARK]
        if not failed:
            continue
        answers = control.get("answers", {}).get(case["id"], [])
        said = answers[failed[0]][0] if failed[0] < len(answers) and answers[failed[0]] else ""
        out.append((case, failed, " ".join(said.split())[:ANSWER_SHOWN]))
    return out


def first_persona_failure(record: dict[str, Any], control: dict[str, Any]) -> tuple[str, int, str] | None:
    """(question, round, answer) of the earliest own-persona failure under `control`, or None."""
    fails = _persona_fails(record, control)
    if not fails:
        return None
    case, failed, said = min(fails, key=lambda f: f[1][0])
    return str(case.get("probe") or case["id"]), failed[0], said


def persona_failures(record: dict[str, Any], control: dict[str, Any]) -> list[str]:
    """One line per own persona probe that failed at some round under `control`."""
    lines = []
    for case, failed, said in _persona_fails(record, control):
        scores = control.get("per_case", {}).get(case["id"], [])
        first = failed[0]
        asked = f'asked "{case["probe"]}"' if case.get("probe") else f"probe {case['id']}"
        when = "before any chat (round 0)" if first == 0 else f"after {first} round{'s' if first > 1 else ''}"
        lines.append(f'its own persona check failed {when}: {asked}, it answered "{said}" '
                     f"(failed at {_rounds(failed)} of {len(scores) - 1}). Check the [persona] system_prompt "
                     "and its probes in config.toml")  # fmt: skip
    return lines


def check_alerts(
    record: dict[str, Any], *, threshold: float, trailing_days: int, history: list[dict[str, Any]]
) -> list[str]:
    """Alert messages for a run record, given earlier nightly records (pure function)."""
    when = datetime.fromisoformat(record["date"])
    others = [h for h in history if h.get("id") != record.get("id")]
    messages = []
    for control in alerted_controls(record):
        label = control["label"]
        messages += [f"'{label}': {line}" for line in persona_failures(record, control)]
        low = [p for p in control["curve"] if p["mean"] <= threshold + EPS]
        if low:
            worst = min(low, key=lambda p: p["mean"])
            messages.append(f"'{label}': only {_pct(worst['mean'])} of instruction checks passed at round "
                            f"{worst['round']}, at or below the alert level of {_pct(threshold)} "
                            f"(low at {_rounds([p['round'] for p in low])})")  # fmt: skip
        past = trailing(label, before=when, days=trailing_days, kind="nightly", runs=others)
        drops: list[tuple[dict[str, Any], float]] = []
        for p in control["curve"]:
            week = past[p["round"]] if p["round"] < len(past) else None
            if week is not None and p.get("hi", p["mean"]) < week - EPS:
                drops.append((p, week))
        if drops:
            p, week = max(drops, key=lambda d: d[1] - d[0]["mean"])
            messages.append(f"'{label}': instruction checks fell below the last {trailing_days} days at "
                            f"{_rounds([d[0]['round'] for d in drops])} (round {p['round']}: {_pct(p['mean'])} "
                            f"now vs {_pct(week)} on average, more than this run's margin of error)")  # fmt: skip
    return messages


def alert_text(record: dict[str, Any], limit: int = 5) -> str:
    """The one message sent for a run's alerts: what happened, what to do, where the report is."""
    alerts = list(record.get("alerts", []))
    head = f"Self-probe alert ({record.get('day', record.get('date', '?'))}): "
    if record.get("verdict"):
        head += f"{record['verdict']} Details: "
    head += "; ".join(alerts[:limit])
    more = len(alerts) - limit
    report = record.get("files", {}).get("md", "")
    return (head + (f"; and {more} more" if more > 0 else "") + ". "
            + (f"Report: {report}" if report else "See `assistant probe report`."))  # fmt: skip

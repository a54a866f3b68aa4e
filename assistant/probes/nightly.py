"""The nightly self-probe: persona probes plus a suite sample, alerts, and the saved record.

The scheduler calls `run_nightly`; it passes an `alert` callable (e.g. a Slack post)
when Slack is configured. Alerts fire when the mean score at any round falls below
``probes.alert_threshold`` or below the trailing-week mean of the same control at that round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from assistant.config import Settings
from assistant.llm.base import ChatModel, Message
from assistant.probes.benchmark import run_benchmark
from assistant.probes.history import list_runs, save_run, trailing
from assistant.probes.runner import Progress
from assistant.probes.threads import probe_threads

log = logging.getLogger(__name__)
EPS = 1e-9  # identical greedy reruns must not count as "below"


def _rounds(points: Sequence[tuple[Any, ...]]) -> str:
    return ", ".join(str(p[0]) for p in points)


def check_alerts(
    record: dict[str, Any], *, threshold: float, trailing_days: int, history: list[dict[str, Any]]
) -> list[str]:
    """Alert messages for a run record, given earlier nightly records (pure function)."""
    when = datetime.fromisoformat(record["date"])
    others = [h for h in history if h.get("id") != record.get("id")]
    messages = []
    for control in record["controls"]:
        label = control["label"]
        past = trailing(label, before=when, days=trailing_days, kind="nightly", runs=others)
        low = [(p["round"], p["mean"]) for p in control["curve"] if p["mean"] < threshold - EPS]
        if low:
            worst = min(low, key=lambda x: x[1])
            messages.append(f"probe stability for '{label}' fell below the alert threshold {threshold:.2f} "
                            f"at round(s) {_rounds(low)} (lowest {worst[1]:.2f} at round {worst[0]})")  # fmt: skip
        drops = [(p["round"], p["mean"], past[p["round"]]) for p in control["curve"]
                 if p["round"] < len(past) and past[p["round"]] is not None
                 and p["mean"] < past[p["round"]] - EPS]  # fmt: skip
        if drops:
            r, mean, week = max(drops, key=lambda x: x[2] - x[1])
            messages.append(f"probe stability for '{label}' fell below its trailing {trailing_days}-day mean "
                            f"at round(s) {_rounds(drops)} (round {r}: {mean:.2f} vs {week:.2f})")  # fmt: skip
    return messages


def run_nightly(
    settings: Settings,
    engine: ChatModel,
    *,
    store: object | None = None,
    alert: Callable[[str], None] | None = None,
    threads: Sequence[Sequence[Message]] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the nightly probe, save the record, raise alerts; return the record.

    `store` is accepted for the scheduler's uniform job signature and never touched:
    probe branches do not read or write memory. `threads` are real conversations
    (e.g. the longest recent chat threads) probed read-only with the persona's probes.
    """
    del store  # by design: nothing here may reach memory
    p = settings.probes
    record = run_benchmark(
        settings, engine, controls=p.controls, cases=p.cases, kind="nightly",
        command="nightly self-probe (scheduler)", progress=progress,
    )  # fmt: skip
    if threads:
        record["real_threads"] = probe_threads(settings, engine, threads)
    history = list_runs(kind="nightly")
    record["alerts"] = check_alerts(record, threshold=p.alert_threshold, trailing_days=p.trailing_days,
                                    history=history)  # fmt: skip
    record["alert"] = bool(record["alerts"])
    save_run(record)
    for message in record["alerts"]:
        log.warning("%s", message)
    if record["alert"] and alert is not None:
        head = f"Self-probe alert ({record['day']}): " + "; ".join(record["alerts"][:5])
        more = len(record["alerts"]) - 5
        alert(head + (f"; and {more} more" if more > 0 else "") + f". Report: {record['files'].get('md', '')}")
    log.info("nightly probe %s: stability at last round %.2f (%s)", record["id"],
             record["stability_last_round"] or 0.0, record["headline"])  # fmt: skip
    return record

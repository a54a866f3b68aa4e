"""The nightly self-probe: persona probes plus a suite sample, alerts, and the saved record.

The scheduler calls `run_nightly`; it passes an `alert` callable (`assistant.app.App.alert`,
a Slack post) when Slack is configured. The alert
rules live in `assistant.probes.alerts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from assistant.config import Settings
from assistant.llm.base import ChatModel, Message
from assistant.probes.alerts import alert_text, check_alerts
from assistant.probes.benchmark import run_benchmark
from assistant.probes.history import list_runs, save_run
from assistant.probes.runner import Progress
from assistant.probes.threads import probe_threads
from assistant.probes.verdict import verdict

log = logging.getLogger(__name__)

__all__ = ["check_alerts", "run_nightly"]


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
        settings, engine, controls=p.controls, cases=p.cases, families=p.families, kind="nightly",
        command="nightly self-probe (scheduler)", progress=progress, own_always=True,
    )  # fmt: skip
    if threads:
        record["real_threads"] = probe_threads(settings, engine, threads)
    history = list_runs(kind="nightly")
    record["alerts"] = check_alerts(record, threshold=p.alert_threshold, trailing_days=p.trailing_days,
                                    history=history)  # fmt: skip
    record["alert"] = bool(record["alerts"])
    record["verdict"] = verdict(record, threshold=p.alert_threshold, history=history, trailing_days=p.trailing_days)
    # the alert (and the report saved next) open with the same sentence the digest shows
    save_run(record)
    for message in record["alerts"]:
        log.warning("%s", message)
    if record["alert"] and alert is not None:
        alert(alert_text(record))
    log.info("nightly probe %s: %s", record["id"], record["verdict"])
    return record

"""`assistant run` on the team profile: the service campaigns for the scheduler lead on
Postgres, says whether it leads, and gives the lead back at once when it stops (the next
replica need not wait for the lease to lapse)."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.background.jobs import Runtime
from assistant.background.service import run_service
from assistant.config import Settings
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory

TEAM = {
    "deployment": {"profile": "team", "leader_lease_s": 2.0},
    "chat": {"checkpointer": "postgres"},
    "memory": {"backend": "http"},
}


def _replica(lines: list[str], stop: threading.Event) -> threading.Thread:
    settings = Settings.model_validate(TEAM)
    runtime = Runtime(settings, llm_factory=lambda: ScriptedChatModel(["ok"]), store_factory=FakeMemory)
    thread = threading.Thread(
        target=run_service,
        kwargs={"settings": settings, "echo": lines.append, "stop": stop, "runtime": runtime,
                "specs": [], "install_signals": False, "load_model": False},
        daemon=True,
    )  # fmt: skip
    return thread


def test_the_service_leads_the_scheduler_and_hands_the_lead_over_when_it_stops(
    pg_url: str, home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_POSTGRES_URL", pg_url)
    first_lines: list[str] = []
    first_stop = threading.Event()
    first = _replica(first_lines, first_stop)
    first.start()
    deadline = time.monotonic() + 60
    while not any(line.startswith("running") for line in first_lines):
        assert time.monotonic() < deadline and first.is_alive(), first_lines
        time.sleep(0.05)
    assert "scheduler: Postgres (one leader among the replicas); this replica leads" in first_lines
    first_stop.set()
    first.join(timeout=60)
    assert first_lines[-1] == "stopped cleanly"

    from assistant.team.leader import LeaderLease

    # the stopped leader gave its lease back: a new replica leads at once, not after the lease
    taken = threading.Event()
    lease = LeaderLease(pg_url, "scheduler", 2.0, on_elected=taken.set, on_deposed=lambda: None)
    started = time.monotonic()
    lease.start()
    try:
        assert taken.wait(5) and time.monotonic() - started < 1.5
    finally:
        lease.stop()

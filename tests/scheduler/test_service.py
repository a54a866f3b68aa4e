"""`assistant run`: start-up lines, shared runtime, a clean stop on SIGTERM mid-summarisation."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from assistant.background.jobs import Runtime, last_runs
from assistant.background.scheduler import AssistantScheduler, JobSpec
from assistant.background.service import run_service
from assistant.config import Settings
from assistant.llm.base import ChatResult, Message
from memory.types import Item
from tests.fakes import ScriptedChatModel
from tests.memfake import FakeMemory
from tests.slack.fakeapi import FakeSlackAPI


class SlowModel(ScriptedChatModel):
    """Takes a while per batch, like a real model on two cores."""

    def chat_batch(
        self, conversations: Sequence[Sequence[Message]], **kwargs: Any
    ) -> list[ChatResult]:
        time.sleep(0.3)
        return [self.chat(c) for c in conversations]


def test_sigterm_stops_the_service_cleanly_and_summarisation_resumes(home: Path) -> None:
    store = FakeMemory()
    store.items.upsert(
        Item(
            id=f"arxiv:1.{i:03d}",
            owner="local",
            source="arxiv",
            title=f"P{i}",
            text=f"Paper {i} text.",
        )
        for i in range(40)
    )
    model = SlowModel(["a fine summary of the paper"])
    settings = Settings(digest={"summary_batch": 2})  # type: ignore[arg-type]
    runtime = Runtime(settings, store_factory=lambda: store, llm_factory=lambda: model)
    specs = [
        JobSpec("summarise", "assistant.background.jobs:summarise", IntervalTrigger(seconds=1), "summarise")
    ]
    lines: list[str] = []

    def stop_when_busy() -> None:
        while not store.items.set_summary_calls:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_busy, daemon=True).start()
    started = time.monotonic()
    run_service(settings, echo=lines.append, runtime=runtime, specs=specs)
    assert time.monotonic() - started < 20
    text = "\n".join(lines)
    assert "model: loaded" in text and "job summarise" in text
    assert "Slack bot: off (SLACK_BOT_TOKEN is not set)" in text
    assert "digests:" in text and "not posted to Slack" in text
    assert lines[-1] == "stopped cleanly"
    done = len(set(store.items.set_summary_calls))
    assert 0 < done < 40, "the stop did not interrupt the run between batches"
    outcome = last_runs()["summarise"]
    assert outcome["ok"] and "stopped early" in outcome["detail"]
    # the job store is free again and the rest is summarised by the next run
    with AssistantScheduler(settings, specs=specs):
        pass
    from assistant.background.summarise import summarise_pending

    rest = summarise_pending(
        settings, store, ScriptedChatModel(["another summary here"]), user_id="local"
    )
    assert rest.summarised == 40 - done
    assert signal.getsignal(signal.SIGTERM) is not None


def test_the_slack_bot_runs_inside_the_service_when_tokens_are_set(
    home: Path, monkeypatch: Any, fake_slack: FakeSlackAPI
) -> None:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    settings = Settings(slack={"http_port": port, "base_url": fake_slack.base_url})  # type: ignore[arg-type]
    runtime = Runtime(
        settings, store_factory=FakeMemory, llm_factory=lambda: ScriptedChatModel(["hi"])
    )
    specs = [JobSpec("tick", "tests.scheduler.jobfuncs:tick", IntervalTrigger(hours=1), "tick")]
    stop = threading.Event()
    lines: list[str] = []
    health: list[int] = []

    def probe() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not health:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    health.append(resp.status)
            except OSError:
                time.sleep(0.1)
        stop.set()

    threading.Thread(target=probe, daemon=True).start()
    run_service(
        settings, echo=lines.append, runtime=runtime, specs=specs, stop=stop, install_signals=False
    )
    text = "\n".join(lines)
    assert health == [200], text
    assert "Slack bot: on (Events API over HTTP)" in text
    assert f"Slack bot: listening on http://127.0.0.1:{port}/slack/events" in text
    assert lines[-1] == "stopped cleanly"


def test_a_digest_missed_while_down_is_built_on_start_once(home: Path) -> None:
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    from assistant.background.digest import build_digest
    from assistant.background.service import catch_up_digest
    from tests.scheduler import jobfuncs

    jobfuncs.reset()
    settings = Settings(schedule={"digest_time": "00:00"})  # type: ignore[arg-type]
    specs = [
        JobSpec(
            "digest",
            "tests.scheduler.jobfuncs:tick",
            CronTrigger(hour=0, minute=0, timezone=UTC),
            "d",
        )
    ]
    lines: list[str] = []
    with AssistantScheduler(settings, specs=specs) as sched:
        assert catch_up_digest(settings, sched, lines.append)
        deadline = time.monotonic() + 10
        while not jobfuncs.CALLS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(jobfuncs.CALLS) == 1
        nxt = sched.scheduler.get_job("digest").next_run_time
        assert (nxt.hour, nxt.minute) == (0, 0) and nxt > datetime.now(
            UTC
        )  # back on its daily time
    assert "was missed; building it after today's pull and summaries" in lines[0]
    build_digest(settings, FakeMemory(), day=datetime.now(UTC).date(), user_id="local", post=False)
    with AssistantScheduler(settings, specs=specs) as sched:
        assert not catch_up_digest(settings, sched, lines.append)  # today's digest exists

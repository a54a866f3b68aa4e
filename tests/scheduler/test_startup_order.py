"""Start-up after the digest time: the day's pull and summaries come before the late digest.

Real parts: the scheduler on its SQLite job store, the real pull and summarise jobs
against a loopback arXiv feed, the real memory store; a scripted model writes summaries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from assistant.app import App
from assistant.background.digest import digests_dir
from assistant.background.jobs import Runtime, install, last_runs, uninstall
from assistant.background.scheduler import AssistantScheduler, JobSpec
from assistant.background.service import catch_up_digest
from assistant.config import Settings
from assistant.llm.base import ChatResult, Message
from tests.connectors import docs
from tests.connectors.servers import ArxivServer, Route
from tests.fakes import ScriptedChatModel

SUMMARY = "A short, plain summary written by the model of a morning paper."  # covers the paper
ABSTRACT = "The model has written a summary, short and plain, of paper {n}."
TITLES = [f"Morning Paper Number {n}" for n in range(1, 7)]


class Summariser(ScriptedChatModel):
    """Writes summaries, `delay_s` per batch (a slow model on two cores)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__([SUMMARY])
        self.delay_s = delay_s

    def chat_batch(self, conversations: Sequence[Sequence[Message]], **kwargs: Any) -> list[ChatResult]:
        time.sleep(self.delay_s)
        return [self.chat(c) for c in conversations]


@pytest.fixture
def arxiv() -> Iterator[ArxivServer]:
    server = ArxivServer()
    today = format_datetime(datetime.now(UTC))
    items = [
        # the abstract supports the scripted summary, so the summary checks keep it
        docs.rss_item(f"2611.1000{n}", 1, title, ABSTRACT.format(n=n), date=today)
        for n, title in enumerate(TITLES, 1)
    ]
    server.routes["/rss/cs.CL"] = Route(docs.rss("cs.CL", items))
    server.start()
    yield server
    server.stop()


def _settings(arxiv: ArxivServer) -> Settings:
    return Settings.model_validate(
        {
            "feeds": {
                "arxiv_categories": ["cs.CL"],
                "arxiv_rss_url": arxiv.url + "/rss/{category}",
                "arxiv_min_interval_s": 0.0,
            },
            "schedule": {"digest_time": "00:00"},  # always missed by now
            "digest": {"summary_batch": 2, "post_to_slack": False},
        }
    )


def _specs() -> list[JobSpec]:
    later = IntervalTrigger(hours=6, timezone=UTC)
    return [
        JobSpec("pull_arxiv", "assistant.background.jobs:pull_arxiv", later, "pull"),
        JobSpec("summarise", "assistant.background.jobs:summarise", later, "summarise"),
        JobSpec(
            "digest",
            "assistant.background.jobs:digest",
            CronTrigger(hour=0, minute=0, timezone=UTC),
            "digest",
        ),
    ]


def _late_digest(settings: Settings, model: Summariser, *, wait_s: float) -> tuple[str, list[str]]:
    """Start the scheduler after the digest time; return today's digest and the lines said."""
    lines: list[str] = []
    stop = threading.Event()
    with App(settings, llm_factory=lambda: model, extraction=False) as app:
        runtime = Runtime(settings, app=app, stop=stop)
        install(runtime)
        try:
            with AssistantScheduler(settings, specs=_specs()) as sched:
                thread = catch_up_digest(
                    settings, sched, lines.append, runtime=runtime, stop=stop, wait_s=wait_s
                )
                assert thread is not None
                deadline = time.monotonic() + 60
                while (
                    "digest" not in last_runs() or last_runs()["digest"].get("running")
                ) and time.monotonic() < deadline:
                    time.sleep(0.1)
                stop.set()  # summarisation stops between batches
        finally:
            uninstall()
    assert last_runs()["digest"]["ok"], last_runs()
    day = datetime.now(UTC).date().isoformat()
    markdown = (digests_dir() / f"{day}.md").read_text(encoding="utf-8")
    return markdown, lines


def test_a_late_digest_waits_for_the_morning_pull_and_its_summaries(
    home: Path, arxiv: ArxivServer
) -> None:
    markdown, lines = _late_digest(_settings(arxiv), Summariser(), wait_s=60)
    assert "building it after today's pull and summaries" in lines[0]
    for title in TITLES:
        assert title in markdown  # pulled this morning, by the catch-up
    assert markdown.count(SUMMARY) == len(TITLES)  # every one summarised before the digest
    assert "after waiting" not in markdown
    runs = last_runs()
    assert runs["pull_arxiv"]["started"] < runs["summarise"]["started"] < runs["digest"]["started"]


def test_past_the_bound_the_digest_is_built_with_what_is_there_and_says_so(
    home: Path, arxiv: ArxivServer
) -> None:
    markdown, lines = _late_digest(_settings(arxiv), Summariser(delay_s=1.5), wait_s=2.0)
    for title in TITLES:
        assert title in markdown
    assert "after waiting" in markdown and "without a summary" in markdown
    assert markdown.count(SUMMARY) < len(TITLES)
    assert any("stopped waiting" in line for line in lines)


def test_nothing_waits_when_todays_digest_is_not_missed(home: Path, arxiv: ArxivServer) -> None:
    settings = _settings(arxiv).model_copy(
        update={"schedule": Settings().schedule.model_copy(update={"digest_time": "23:59"})}
    )
    specs = _specs()
    with AssistantScheduler(settings, specs=specs) as sched:
        if datetime.now(UTC).strftime("%H:%M") < "23:59":
            assert catch_up_digest(settings, sched, lambda line: None) is None

"""`assistant run`: the long-running service.

One process owns the data directory: it loads the model once, opens the memory store
once, runs the scheduler (pulls, summarisation, digest, nightly probe) and, when Slack
tokens are present, the Slack bot, all sharing that model and store. SIGINT/SIGTERM
stop it cleanly: summarisation stops between batches (what it finished is saved, the
rest resumes next run), running jobs finish, then the scheduler and the store close.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.paths import ensure_data_dir

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


@dataclass
class Service:
    """The parts of a running service, for a clean stop."""

    settings: Settings
    runtime: Any = None
    scheduler: Any = None
    bot_stop: Callable[[], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def shutdown(self, echo: Echo) -> None:
        """Stop the bot, let running jobs finish, close the store."""
        if self.runtime is not None:
            self.runtime.stop.set()  # summarisation ends after its current batch
        if self.bot_stop is not None:
            try:
                self.bot_stop()
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                log.warning("stopping the Slack bot: %s", exc)
        if self.scheduler is not None:
            echo("stopping: waiting for running jobs to finish…")
            self.scheduler.shutdown(wait=True)
        if self.runtime is not None:
            from assistant.jobs import uninstall

            uninstall()
            self.runtime.close()
        if self.scheduler is not None:  # a start that failed has its error to show, not this
            echo("stopped cleanly")


def slack_status() -> tuple[bool, str]:
    """Whether the Slack bot can start, and a line saying why (not)."""
    if not os.environ.get("SLACK_BOT_TOKEN"):
        return False, "Slack bot: off (SLACK_BOT_TOKEN is not set)"
    if os.environ.get("SLACK_APP_TOKEN"):
        return True, "Slack bot: on (Socket Mode, SLACK_APP_TOKEN)"
    if os.environ.get("SLACK_SIGNING_SECRET"):
        return True, "Slack bot: on (Events API over HTTP)"
    return (
        False,
        "Slack bot: off (set SLACK_APP_TOKEN for Socket Mode or SLACK_SIGNING_SECRET for HTTP)",
    )


def _start_bot(settings: Settings, runtime: Any, echo: Echo) -> Callable[[], None] | None:
    try:
        from assistant.slackbot import start_slack
    except ImportError as exc:
        echo(f"Slack bot: skipped (assistant.slackbot is not available: {exc})")
        return None
    try:
        handle = start_slack(settings, llm=runtime.llm, store=runtime.store)
    except AssistantError as exc:
        # the scheduler is still useful without the bot: say why and keep running
        echo(f"Slack bot: failed to start: {exc}")
        return None
    where = f"listening on {handle.url}" if handle.url else "connected over Socket Mode"
    echo(f"Slack bot: {where}")
    return handle.stop


def _digest_target(settings: Settings) -> str:
    from assistant.digest import digests_dir

    where = f"digests: {digests_dir()}/YYYY-MM-DD.md|html"
    if not settings.digest.post_to_slack:
        return where + "; Slack posting off (digest.post_to_slack = false)"
    if not os.environ.get("SLACK_BOT_TOKEN"):
        return where + "; not posted to Slack (SLACK_BOT_TOKEN is not set)"
    if not settings.digest.slack_target:
        return where + "; not posted to Slack (set digest.slack_target to a channel or user id)"
    return where + f"; posted to Slack {settings.digest.slack_target}"


def catch_up_digest(settings: Settings, scheduler: Any, echo: Echo) -> bool:
    """Run today's digest soon when its time passed while the service was down.

    APScheduler drops a cron run that is later than the misfire grace; a daily digest
    should still arrive (late) that day. The digest is idempotent, so this is safe.
    """
    from datetime import datetime

    from assistant.digest import built
    from assistant.scheduler import zone

    job = scheduler.scheduler.get_job("digest")
    if job is None:
        return False
    now = datetime.now(zone(settings))
    hour, minute = (int(p) for p in settings.schedule.digest_time.split(":"))
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if now < due or built(settings.feeds.owner, now.date()):
        return False
    job.modify(next_run_time=now)
    echo(f"digest: today's run at {settings.schedule.digest_time} was missed; building it now")
    return True


def resume_interrupted(scheduler: Any, echo: Echo) -> list[str]:
    """Run again, now, every job whose last run died with its process (kill -9, power loss).

    Jobs are idempotent (pulls dedupe, the digest posts at most once and warns about a
    post cut off midway), so running one again is safe; waiting for its next slot is not.
    """
    from datetime import datetime

    from assistant.jobs import interrupted

    resumed = []
    for job_id, run in sorted(interrupted().items()):
        job = scheduler.scheduler.get_job(job_id)
        if job is None or job.next_run_time is None:  # gone or paused: nothing to resume
            continue
        when = datetime.fromtimestamp(float(run.get("started", 0))).strftime("%Y-%m-%d %H:%M")
        job.modify(next_run_time=datetime.now(job.next_run_time.tzinfo))
        echo(f"job {job_id}: its run of {when} was cut off (process ended); running it again now")
        resumed.append(job_id)
    return resumed


def warn_unfinished_posts(echo: Echo) -> None:
    """Say which digest posts were cut off mid-way (at most once each; never posted twice)."""
    from assistant.digest import digests_dir, unfinished_posts

    for user_id, day, channel in unfinished_posts():
        line = (
            f"digest: the Slack post of the {day} digest for {user_id} was cut off (the process "
            f"ended while posting); it may not have arrived: check {channel or 'the channel'} and "
            f"post {digests_dir() / (day + '.md')} by hand if it is missing"
        )
        log.warning(line)
        echo(line)


def run_service(
    settings: Settings,
    *,
    echo: Echo = print,
    stop: threading.Event | None = None,
    runtime: Any = None,
    specs: Any = None,
    install_signals: bool = True,
    load_model: bool = True,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); everything shares one model and store."""
    from assistant.jobs import Runtime, install
    from assistant.scheduler import AssistantScheduler, jobstore_url

    home = ensure_data_dir()
    service = Service(settings, stop=stop or threading.Event())
    service.runtime = runtime or Runtime(settings)
    install(service.runtime)
    previous: dict[int, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: service.stop.set())
    try:
        echo(f"data directory: {home}")
        echo(_digest_target(settings))
        service.runtime.store  # noqa: B018 - first: fails fast when another process owns it
        if load_model:
            started = time.monotonic()
            service.runtime.llm  # noqa: B018 - load once now, not inside the first job
            echo(
                f"model: loaded in {time.monotonic() - started:.1f} s (shared by jobs and the bot)"
            )
        service.scheduler = AssistantScheduler(settings, specs=specs)
        service.scheduler.start()
        resume_interrupted(service.scheduler, echo)
        warn_unfinished_posts(echo)
        if specs is None:
            catch_up_digest(settings, service.scheduler, echo)
        echo(
            f"scheduler: job store {jobstore_url(settings) if specs is None else service.scheduler.url}"
        )
        for job in service.scheduler.jobs():
            when = f"{job.next_run_time:%Y-%m-%d %H:%M %Z}" if job.next_run_time else "paused"
            echo(f"  job {job.id}: {job.name}; next run {when}")
        ok, line = slack_status()
        echo(line)
        if ok:
            service.bot_stop = _start_bot(settings, service.runtime, echo)
        echo("running; press Ctrl-C to stop")
        while not service.stop.wait(0.5):
            pass
    finally:
        service.shutdown(echo)
        for signum, handler in previous.items():
            signal.signal(signum, handler)

"""`assistant run`: the long-running service.

One process owns the data directory: it loads the model once, opens the memory store
once, runs the scheduler (pulls, summarisation, digest, nightly probe) and, when Slack
tokens are present, the Slack bot, all sharing that model and store. SIGINT/SIGTERM
stop it cleanly: summarisation stops between batches (what it finished is saved, the
rest resumes next run), running jobs finish, then the scheduler and the store close.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.app import Secrets, serve_commands_with
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
    api: Any = None
    stop: threading.Event = field(default_factory=threading.Event)

    def shutdown(self, echo: Echo) -> None:
        """Stop the local API and the bot, let running jobs finish, close the store."""
        if self.runtime is not None:
            self.runtime.stop.set()  # summarisation ends after its current batch
        if self.api is not None:
            self.api.stop()  # new CLI requests now open the data directory themselves (after us)
            serve_commands_with(None)
        if self.bot_stop is not None:
            try:
                self.bot_stop()
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                log.warning("stopping the Slack bot: %s", exc)
        if self.scheduler is not None:
            echo("stopping: waiting for running jobs to finish…")
            self.scheduler.shutdown(wait=True)
        if self.runtime is not None:
            from assistant.background.jobs import uninstall

            uninstall()
            self.runtime.close()
        if self.scheduler is not None:  # a start that failed has its error to show, not this
            echo("stopped cleanly")


def _start_bot(settings: Settings, runtime: Any, echo: Echo) -> Callable[[], None] | None:
    from assistant.slack.bot import start_slack

    try:
        handle = start_slack(runtime.parts)
    except AssistantError as exc:
        # the scheduler is still useful without the bot: say why and keep running
        echo(f"Slack bot: failed to start: {exc}")
        return None
    where = f"listening on {handle.url}" if handle.url else "connected over Socket Mode"
    echo(f"Slack bot: {where}")
    return handle.stop


def _digest_target(settings: Settings, secrets: Secrets) -> str:
    from assistant.background.digest import digests_dir

    where = f"digests: {digests_dir()}/YYYY-MM-DD.md|html"
    if not settings.digest.post_to_slack:
        return where + "; Slack posting off (digest.post_to_slack = false)"
    if not secrets.slack_configured:
        return where + "; not posted to Slack (SLACK_BOT_TOKEN is not set)"
    if not settings.digest.slack_target:
        return where + "; not posted to Slack (set digest.slack_target to a channel or user id)"
    return where + f"; posted to Slack {settings.digest.slack_target}"


CATCH_UP_PULLS = ("pull_arxiv", "pull_slack")


def catch_up_digest(
    settings: Settings,
    scheduler: Any,
    echo: Echo,
    *,
    runtime: Any = None,
    stop: threading.Event | None = None,
    wait_s: float | None = None,
) -> threading.Thread | None:
    """Build today's digest when its time passed while the service was down, but only after
    today's pull and summaries: a late digest should carry this morning's papers, summarised.

    APScheduler drops a cron run that is later than the misfire grace; a daily digest
    should still arrive (late) that day. A background thread runs the pulls, then the
    summaries until none are pending, then the digest (idempotent per day). The wait is
    bounded by `schedule.catch_up_wait_minutes`; past it the digest is built with what is
    there and says so at the top. Returns the thread, or None when nothing was missed.
    """
    from datetime import datetime

    from assistant.background.clock import zone
    from assistant.background.digest import built

    job = scheduler.scheduler.get_job("digest")
    if job is None:
        return None
    now = datetime.now(zone(settings))
    hour, minute = (int(p) for p in settings.schedule.digest_time.split(":"))
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if now < due or built(settings.feeds.owner, now.date()):
        return None
    wait = settings.schedule.catch_up_wait_minutes * 60.0 if wait_s is None else wait_s
    echo(
        f"digest: today's run at {settings.schedule.digest_time} was missed; building it after "
        f"today's pull and summaries (waiting at most {wait / 60:.0f} min)"
    )
    thread = threading.Thread(
        target=_catch_up,
        args=(settings, scheduler, echo, runtime, stop or threading.Event(), wait),
        name="digest-catch-up",
        daemon=True,
    )
    thread.start()
    return thread


def _catch_up(
    settings: Settings,
    scheduler: Any,
    echo: Echo,
    runtime: Any,
    stop: threading.Event,
    wait_s: float,
) -> None:
    from datetime import datetime

    from assistant.background.clock import zone

    deadline = time.monotonic() + wait_s
    complete = _run_and_wait(settings, scheduler, CATCH_UP_PULLS, deadline, stop)
    left = _pending(runtime)
    while complete and left != 0 and scheduler.scheduler.get_job("summarise") is not None:
        complete = _run_and_wait(settings, scheduler, ("summarise",), deadline, stop)
        now_left = _pending(runtime)
        if now_left is None or now_left == left:
            break  # nothing to count, or no progress: the summariser gave up on these items
        left = now_left
    if stop.is_set():
        return
    now = datetime.now(zone(settings))
    if not complete and runtime is not None:
        runtime.digest_note = (
            f"Built at {now:%H:%M} after waiting {wait_s / 60:.0f} min for today's pull and "
            "summaries; items still without a summary show the start of their abstract."
        )
        echo("digest: stopped waiting for the pull and summaries; building it with what is there")
    job = scheduler.scheduler.get_job("digest")
    if job is not None:
        job.modify(next_run_time=now)


def _run_and_wait(
    settings: Settings,
    scheduler: Any,
    job_ids: tuple[str, ...],
    deadline: float,
    stop: threading.Event,
) -> bool:
    """Run the configured ones of `job_ids` now, through the scheduler (so never twice at
    once), and wait until each has finished a run; False when the deadline or a stop came
    first."""
    from datetime import datetime

    from assistant.background.clock import zone
    from assistant.background.jobs import last_runs

    present = [j for j in job_ids if scheduler.scheduler.get_job(j) is not None]
    asked = time.time()
    for job_id in present:
        scheduler.scheduler.get_job(job_id).modify(next_run_time=datetime.now(zone(settings)))

    def finished(job_id: str) -> bool:
        run = last_runs().get(job_id)
        # a run already going when we asked counts once it finishes (after `asked`); the
        # entry a job writes when it starts ("running") is not a finish
        return (
            run is not None
            and not run.get("running")
            and float(run["started"]) + float(run["seconds"]) >= asked
        )

    while not all(finished(j) for j in present):
        if stop.wait(0.2) or time.monotonic() >= deadline:
            return False
    return True


def _pending(runtime: Any) -> int | None:
    """How many of the owner's items still lack a summary (up to 1000); None when unknown."""
    if runtime is None:
        return None
    return len(runtime.store.items.unsummarised(runtime.user_id, 1000))


def resume_interrupted(scheduler: Any, echo: Echo) -> list[str]:
    """Run again, now, every job whose last run died with its process (kill -9, power loss).

    Jobs are idempotent (pulls dedupe, the digest posts at most once and warns about a
    post cut off midway), so running one again is safe; waiting for its next slot is not.
    """
    from datetime import datetime

    from assistant.background.jobs import interrupted

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
    from assistant.background.digest_record import digests_dir, unfinished_posts

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
    from assistant.background.jobs import Runtime, install
    from assistant.background.scheduler import AssistantScheduler, jobstore_url
    from assistant.local_api.starting import clear_starting, mark_starting

    home = ensure_data_dir()
    mark_starting()  # commands run before the local API answers wait for it (bounded)
    service = Service(settings, stop=stop or threading.Event())
    service.runtime = runtime or Runtime(settings)
    install(service.runtime)
    previous: dict[int, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: service.stop.set())
    try:
        echo(f"data directory: {home}")
        echo(_digest_target(settings, service.runtime.parts.secrets))
        service.runtime.store  # noqa: B018 - first: fails fast when another process owns it
        if load_model:
            started = time.monotonic()
            service.runtime.llm  # noqa: B018 - load once now, not inside the first job
            echo(
                f"model: loaded in {time.monotonic() - started:.1f} s (shared by jobs and the bot)"
            )
        parts = service.runtime.parts
        if parts.team:
            # every replica campaigns; the leader runs the jobs and catches up missed slots
            from assistant.team.scheduler import TeamScheduler

            team = TeamScheduler(settings, parts.require_database_url(), specs=specs)
            team.start()
            service.scheduler = team
            echo(f"scheduler: {team.url}; this replica {'leads' if team.leading else 'follows'}")
        else:
            scheduler = AssistantScheduler(settings, specs=specs)
            scheduler.start()  # a start that fails has its error to show, not "stopped cleanly"
            service.scheduler = scheduler
            resume_interrupted(service.scheduler, echo)
            warn_unfinished_posts(echo)
            if specs is None:
                catch_up_digest(
                    settings, service.scheduler, echo, runtime=service.runtime, stop=service.stop
                )
            echo(
                f"scheduler: job store {jobstore_url(settings) if specs is None else service.scheduler.url}"
            )
        for job in service.scheduler.jobs():
            when = f"{job.next_run_time:%Y-%m-%d %H:%M %Z}" if job.next_run_time else "paused"
            echo(f"  job {job.id}: {job.name}; next run {when}")
        from assistant.local_api.server import LocalAPIServer

        api = LocalAPIServer(service.runtime.parts)
        try:
            where = api.start()
        except OSError as exc:  # e.g. a data directory path too long for a Unix socket
            echo(f"local API: off ({exc}); other commands cannot reach this service")
        else:
            service.api = api
            serve_commands_with(service.runtime.parts)
            echo(f"local API: {where} (chat, profile, goals, feeds, digest, jobs, probe use it)")
        clear_starting()
        ok, line = service.runtime.parts.secrets.slack_bot_status()
        echo(line)
        if ok:
            service.bot_stop = _start_bot(settings, service.runtime, echo)
        echo("running; press Ctrl-C to stop")
        while not service.stop.wait(0.5):
            pass
    finally:
        clear_starting()
        service.shutdown(echo)
        for signum, handler in previous.items():
            signal.signal(signum, handler)

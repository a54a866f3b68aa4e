"""The team profile's scheduler: every replica campaigns, the leader runs APScheduler.

APScheduler 3 must never share a job store between schedulers, so none is shared: the
leader keeps its jobs in memory and the schedule lives in the configuration. Interval
triggers are anchored to a fixed epoch, so every replica computes the same slots; each
run is claimed in Postgres (`slots`) before it starts, so a slot runs once even when a
paused old leader wakes up. A new leader looks up each job's last slot and reports the
ones nobody ran while the old leader's lease lapsed, then runs the latest of them if it is
within the misfire grace (coalesced, as the single-user scheduler does after a restart).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from assistant.background.clock import zone
from assistant.background.scheduler import JobSpec, configured_jobs
from assistant.config import Settings
from assistant.errors import SchedulerError
from assistant.team.leader import LeaderLease
from assistant.team.slots import SlotBook

log = logging.getLogger(__name__)

ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)  # interval slots count from here on every replica
MAX_CATCH_UP = 10_000  # slots looked at when a new leader reports missed runs


def anchored(trigger: Any) -> Any:
    """The same trigger with slots every replica agrees on (interval triggers start at ANCHOR)."""
    from apscheduler.triggers.interval import IntervalTrigger

    if isinstance(trigger, IntervalTrigger):
        return IntervalTrigger(
            seconds=trigger.interval.total_seconds(), start_date=ANCHOR, timezone=trigger.timezone
        )
    return trigger  # cron triggers already name wall-clock slots


def _gap(trigger: Any, after: datetime, until: datetime) -> list[datetime]:
    """The trigger's slots strictly between `after` and `until` (at most MAX_CATCH_UP)."""
    found: list[datetime] = []
    slot = trigger.get_next_fire_time(after, after)
    while slot is not None and slot < until and len(found) < MAX_CATCH_UP:
        if slot > after:
            found.append(slot)
        slot = trigger.get_next_fire_time(slot, slot + timedelta(microseconds=1))
    return found


def _report_gap(slots: SlotBook, job_id: str, trigger: Any, slot: datetime) -> None:
    """Record and log the slots before `slot` that nobody ran (a lapsed lease, coalescing)."""
    previous = slots.last(job_id, before=slot)
    if previous is None:
        return
    missed = _gap(trigger, previous, slot)
    if missed and slots.missed(job_id, missed):
        log.warning(
            "job %s missed %d run(s) from %s to %s (no replica led, or runs were coalesced); "
            "it runs now for %s",
            job_id, len(missed), missed[0], missed[-1], slot,
        )  # fmt: skip


def _slot_executor(slots: SlotBook, workers: int) -> Any:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.executors.base import run_job
    from apscheduler.executors.pool import ThreadPoolExecutor

    class SlotClaimingExecutor(ThreadPoolExecutor):  # type: ignore[misc]
        """Runs a job only for the slots this replica claimed in Postgres."""

        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            def claimed_run(job: Any, alias: str, run_times: list[datetime], logger: str) -> Any:
                events: list[Any] = []
                for slot in run_times:
                    try:
                        mine = slots.claim(job.id, slot)
                    except Exception as exc:  # noqa: BLE001 - at most once: no claim, no run
                        log.error("job %s: cannot claim its %s run in Postgres (%s); skipped", job.id, slot, exc)
                        continue
                    if not mine:
                        log.info("job %s: its %s run was taken by another replica", job.id, slot)
                        continue
                    _report_gap(slots, job.id, job.trigger, slot)
                    token = slots.bind(slot)
                    try:
                        got = run_job(job, alias, [slot], logger)
                    finally:
                        slots.unbind(token)
                    codes = {event.code for event in got}
                    status = "missed" if EVENT_JOB_MISSED in codes else "failed" if EVENT_JOB_ERROR in codes else "done"
                    slots.finish(job.id, slot, status)
                    events.extend(got)
                return events

            def callback(future: Any) -> None:
                exc = future.exception()
                if exc is not None:
                    self._run_job_error(job.id, exc, exc.__traceback__)
                else:
                    self._run_job_success(job.id, future.result())

            future = self._pool.submit(claimed_run, job, job._jobstore_alias, run_times, self._logger.name)
            future.add_done_callback(callback)

    return SlotClaimingExecutor(workers)


class TeamScheduler:
    """Same surface as `AssistantScheduler` (start, scheduler, jobs, shutdown); only the
    replica that holds the leader lease has a running APScheduler."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        *,
        specs: Sequence[JobSpec] | None = None,
        workers: int = 4,
        lease_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.specs = list(specs) if specs is not None else configured_jobs(settings)
        self.workers = workers
        self.lease_s = lease_s if lease_s is not None else settings.deployment.leader_lease_s
        self.url = "Postgres (one leader among the replicas)"
        self._db_url = url
        self._lock = threading.RLock()
        self._scheduler: Any = None
        self._lease: LeaderLease | None = None
        self._slots: SlotBook | None = None

    @property
    def leading(self) -> bool:
        return self._lease is not None and self._lease.leading

    @property
    def scheduler(self) -> Any:
        """The running APScheduler scheduler (this replica leads)."""
        if self._scheduler is None:
            raise SchedulerError(
                "this replica is not the scheduler leader; another replica runs the jobs"
            )
        return self._scheduler

    def start(self) -> None:
        """Campaign for the lead; jobs start here only while this replica leads."""
        lease = LeaderLease(
            self._db_url, "scheduler", self.lease_s, on_elected=self._lead, on_deposed=self._follow
        )
        self._slots = SlotBook(self._db_url, lease.holder)
        self._lease = lease
        lease.start()

    def _lead(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        from assistant.background.scheduler import _current_ref, _event_logger

        assert self._slots is not None
        grace = self.settings.schedule.misfire_grace_s
        tz = zone(self.settings)
        with self._lock:
            if self._scheduler is not None:
                return
            sched = BackgroundScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": _slot_executor(self._slots, self.workers)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
                timezone=tz,
            )
            sched.add_listener(_event_logger, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
            now = datetime.now(tz)
            for spec in self.specs:
                trigger = anchored(spec.trigger)
                extra: dict[str, Any] = {}
                due = self._catch_up(spec.id, trigger, now, grace)
                if due is not None:
                    extra["next_run_time"] = due
                elif spec.first_run_s is not None and self._slots.last(spec.id) is None:
                    extra["next_run_time"] = now + timedelta(seconds=spec.first_run_s)
                sched.add_job(
                    _current_ref(spec), trigger=trigger, id=spec.id, name=spec.description, **extra
                )
            sched.start()
            self._scheduler = sched
        log.info("scheduler: this replica leads and runs %d job(s)", len(self.specs))

    def _catch_up(self, job_id: str, trigger: Any, now: datetime, grace: int) -> datetime | None:
        """The slot to run at once: the latest one nobody ran since the job's last, if in grace."""
        assert self._slots is not None
        last = self._slots.last(job_id)
        if last is None:
            return None
        gap = _gap(trigger, last, now + timedelta(microseconds=1))
        if not gap:
            return None
        if (now - gap[-1]).total_seconds() <= grace:
            return gap[-1]  # its run records the slots before it as missed
        if self._slots.missed(job_id, gap):
            log.warning(
                "job %s missed %d run(s) from %s to %s while no replica led, past the misfire "
                "grace; it runs at the next time",
                job_id, len(gap), gap[0], gap[-1],
            )  # fmt: skip
        return None

    def _follow(self) -> None:
        with self._lock:
            sched, self._scheduler = self._scheduler, None
        if sched is not None:
            sched.shutdown(wait=False)  # claimed runs finish; no new ones start here
            log.info("scheduler: this replica follows; another replica runs the jobs")

    def jobs(self) -> list[Any]:
        """The scheduled jobs while this replica leads, else none."""
        with self._lock:
            return list(self._scheduler.get_jobs()) if self._scheduler is not None else []

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling (running jobs finish with wait), then hand the lead to another replica."""
        with self._lock:
            sched, self._scheduler = self._scheduler, None
        if sched is not None:
            sched.shutdown(wait=wait)
        if self._lease is not None:
            self._lease.stop()
            self._lease = None
        if self._slots is not None:
            self._slots.close()
            self._slots = None

    def __enter__(self) -> TeamScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

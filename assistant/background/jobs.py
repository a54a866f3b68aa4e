"""Scheduled job functions, at stable module paths, and the process-level runtime they use.

The scheduler stores each job as a text reference such as ``"assistant.background.jobs:pull_arxiv"``;
APScheduler deletes a stored job whose function no longer imports, so these names are a
contract: rename or move one only together with an entry in the scheduler's MOVED_REFS
(stored references are rewritten on start) or a note in the changelog (the scheduler
warns about stored jobs it cannot import). Jobs take no arguments: the shared settings, store
and model come from the `Runtime` installed by the process (`assistant run`, `assistant
jobs run`), never from pickled arguments.

Every job is wrapped by `job`: a failure is logged once with its cause and recorded in
the run history; it never reaches APScheduler's thread, so the scheduler keeps running.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.config import Settings
from assistant.errors import AssistantError, SchedulerError
from assistant.paths import data_dir

if TYPE_CHECKING:
    from assistant.app import App
    from assistant.llm.base import ChatModel
    from memory.interface import Memory

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[[], Any])


@dataclass
class Runtime:
    """What jobs share in one process: the app's parts (settings, memory, model, Slack),
    plus the stop signal and where progress goes.

    The parts come from the composition root (`assistant.app.App`) and open on first
    use, so a pull job never loads the model. Factories are swappable so tests and
    benches can pass their own.
    """

    settings: Settings
    store_factory: Callable[[], Any] | None = None
    llm_factory: Callable[[], Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str], None] | None = None  # where long jobs report progress (the CLI)
    app: App | None = None
    digest_note: str = ""  # set by the start-up catch-up when it stopped waiting for summaries
    _owns_app: bool = False

    def __post_init__(self) -> None:
        if self.app is None:
            from assistant.app import App

            self.app = App(
                self.settings, llm_factory=self.llm_factory, store_factory=self.store_factory
            )
            self._owns_app = True

    @property
    def parts(self) -> App:
        """The app this runtime draws its parts from."""
        assert self.app is not None  # set in __post_init__
        return self.app

    @property
    def store(self) -> Memory:
        """The memory store, opened on first use."""
        return self.parts.memory

    @property
    def llm(self) -> ChatModel:
        """The shared chat model (one per process), loaded on first use."""
        return self.parts.llm

    @property
    def user_id(self) -> str:
        """The user whose feed items, digest and profile the jobs work on: the owner."""
        return self.parts.identity.owner

    def close(self) -> None:
        """Close the app when this runtime made it (the shared engine stays for the process)."""
        if self._owns_app:
            self.parts.close()


_current: Runtime | None = None
_current_lock = threading.Lock()


def install(runtime: Runtime) -> None:
    """Make `runtime` the one the jobs of this process use."""
    global _current
    with _current_lock:
        _current = runtime


def uninstall() -> None:
    """Forget the installed runtime (it is not closed here)."""
    global _current
    with _current_lock:
        _current = None


def current() -> Runtime:
    """The installed runtime; a job run without one is a setup error."""
    runtime = _current
    if runtime is None:
        raise SchedulerError(
            "no runtime installed for scheduled jobs; start them through `assistant run` "
            "or `assistant jobs run ID`"
        )
    return runtime


@contextmanager
def installed(runtime: Runtime) -> Iterator[Runtime]:
    """Install `runtime` for the duration of a block, then close and remove it."""
    install(runtime)
    try:
        yield runtime
    finally:
        uninstall()
        runtime.close()


# ---- run history (last outcome per job, shown by `assistant jobs`) -----------------

_history_lock = threading.Lock()


def history_file() -> Path:
    """Where the last outcome of every job is kept."""
    return data_dir() / "job_runs.json"


def last_runs() -> dict[str, dict[str, Any]]:
    """Last outcome per job id: {"started", "seconds", "ok", "detail"}."""
    try:
        data = json.loads(history_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def interrupted(runs: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Jobs whose last run started but never finished: their process died (kill -9, power).

    APScheduler moved such a job's next run forward before it started, so without this
    an interrupted 6-hourly pull would wait 6 hours and `assistant jobs` would say "never".
    """
    runs = last_runs() if runs is None else runs
    return {
        job_id: run
        for job_id, run in runs.items()
        if run.get("running") and not _alive(int(run.get("pid") or 0))
    }


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record_run(job_id: str, started: float, ok: bool, detail: str, running: bool = False) -> None:
    with _history_lock:
        data = last_runs()
        data[job_id] = {
            "started": started,
            "seconds": round(time.time() - started, 3),
            "ok": ok,
            "detail": detail[:500],
        }
        if running:  # replaced by the outcome; left behind only when the process dies
            data[job_id].update(running=True, pid=os.getpid())
        path = history_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)  # atomic: a crash never leaves half a history file
        except OSError as exc:
            log.warning("could not record the run of job %s: %s", job_id, exc)


def job(job_id: str) -> Callable[[F], F]:
    """Wrap a job function: log and record failures with their cause; never raise."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper() -> Any:
            started = time.time()
            log.info("job %s started", job_id)
            _record_run(job_id, started, False, "started; did not finish", running=True)
            try:
                result = func()
            except AssistantError as exc:
                # expected failures (a feed down, a locked store) read best as one line
                log.error("job %s failed: %s", job_id, exc)
                _record_run(job_id, started, False, str(exc))
                return None
            except Exception as exc:  # noqa: BLE001 - the job boundary: log, keep scheduling
                cause = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                log.error("job %s crashed: %s", job_id, cause, exc_info=True)
                _record_run(job_id, started, False, cause)
                return None
            detail = str(result) if result is not None else "done"
            log.info("job %s finished: %s", job_id, detail)
            _record_run(job_id, started, True, detail)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


# ---- the jobs (names are stored in the job store: keep them stable) ----------------


@job("pull_arxiv")
def pull_arxiv() -> str:
    """Pull the configured arXiv feeds into memory."""
    from connectors.ingest import pull

    rt = current()
    report = pull(rt.settings, rt.store, source="arxiv", progress=rt.progress)
    return _describe(report)


@job("pull_slack")
def pull_slack() -> str:
    """Pull the configured Slack channels into memory."""
    from connectors.ingest import pull

    rt = current()
    if rt.parts.slack is None:
        return "skipped: SLACK_BOT_TOKEN is not set"
    report = pull(
        rt.settings, rt.store, source="slack", progress=rt.progress, slack_client=rt.parts.slack
    )
    return _describe(report)


@job("summarise")
def summarise() -> str:
    """Summarise feed items that have no summary yet (resumable, background priority)."""
    from assistant.background.summarise import summarise_pending

    rt = current()
    report = summarise_pending(
        rt.settings,
        rt.store,
        rt.llm,
        user_id=rt.user_id,
        limit=rt.settings.schedule.summarise_max_items,
        should_stop=rt.stop.is_set,
        progress=lambda done, limit, title: _progress(
            rt, f"summarised {done}/{limit or '?'}: {title[:70]}"
        ),
    )
    return str(report)


@job("digest")
def digest() -> str:
    """Build today's digest and post it once (idempotent per day and user)."""
    from assistant.background.digest import build_digest, today

    rt = current()
    result = build_digest(
        rt.settings,
        rt.store,
        day=today(rt.settings),
        user_id=rt.user_id,
        post=rt.settings.digest.post_to_slack,
        client=rt.parts.slack,
        note=rt.digest_note,
    )
    rt.digest_note = ""
    return str(result)


@job("nightly_probe")
def nightly_probe() -> str:
    """Run the nightly self-probe of the system prompt."""
    from assistant.probes.nightly import run_nightly

    rt = current()
    record = run_nightly(
        rt.settings,
        rt.llm,
        store=rt.store,
        alert=rt.parts.alert(),
        threads=rt.parts.real_threads(),
    )
    alert = record.get("alert") if isinstance(record, dict) else None
    return f"probe done (alert={alert})"


def _progress(rt: Runtime, line: str) -> None:
    log.debug(line)
    if rt.progress is not None:
        rt.progress(line)


def _describe(report: Any) -> str:
    total = getattr(report, "total", None)
    if not callable(total):
        return str(report)
    t = total()
    text = f"new {t.new}, updated {t.updated}, unchanged {t.unchanged}, failed feeds {t.failed}"
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        log.warning("pull finished with failed feeds: %s", "; ".join(errors))
        text += " (" + "; ".join(errors)[:300] + ")"
    return text

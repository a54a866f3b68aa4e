"""How the process uses the CPU: OpenMP wait policy at start-up, torch threads per request.

Users run the assistant next to a browser, an editor, a build. OpenMP's default makes a
waiting thread spin for a long while (libgomp: 300,000 rounds, several milliseconds)
before it sleeps. On a machine whose cores are busy, a spinning thread burns the time
slice its partner needs, and every op waits for a descheduled thread: replies got ten
times slower (issue 18). Sleeping at once (`OMP_WAIT_POLICY=passive`) fixes that but costs
more than half the decode speed on a quiet machine, where the threads meet again within
microseconds. A short spin aims at both: threads spin long enough to catch the next op of
the same request, then sleep (numbers in README, `bench/llm_speed.py --busy`).

The wait policy is read once, when the OpenMP runtime starts (when torch is imported),
so `apply_defaults()` runs first thing in the CLI. The thread count can change later:
at each request boundary the model thread takes as many threads as there are cores not
busy with other processes, or every core when none is free (`request_threads()`).
Anything the user set wins: a variable already in the environment is never changed, and
`OMP_NUM_THREADS` or `model.threads` turn the per-request choice off.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass

# libgomp reads GOMP_SPINCOUNT only while OMP_WAIT_POLICY is unset. Spinning is what makes
# a quiet machine fast (1,000 rounds lost a quarter of quiet decode, 200,000 keeps 0.96x of
# libgomp's own 300,000) and what ruins a busy one; the busy case is handled by the thread
# choice below instead: on a loaded machine the engine runs one thread, which never waits
# for a sibling, so no spin is wasted (bench/llm_speed.py --busy, README).
SPINCOUNT = "200000"
DEFAULTS: dict[str, str] = {"GOMP_SPINCOUNT": SPINCOUNT}
# Variables that say how OpenMP threads wait or how many there are; shown by doctor.
SHOWN = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
ADAPT_VAR = "ASSISTANT_ADAPTIVE_THREADS"  # "0" turns the per-request thread choice off

_applied: dict[str, str] = {}  # what apply_defaults() set in this process
_user_set: set[str] = set()  # what the user had set before it ran
_adaptive = False


def apply_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the wait-policy defaults the user has not set; returns what was set.

    Call before torch (or any OpenMP runtime) loads. Children started afterwards
    inherit the values through the environment.
    """
    global _adaptive
    env = os.environ if environ is None else environ
    _user_set.update(name for name in SHOWN if name in env)
    if "OMP_WAIT_POLICY" in env:  # the user chose how threads wait; a spin count would only add to it
        chosen: dict[str, str] = {}
    else:
        chosen = {k: v for k, v in DEFAULTS.items() if k not in env}
    env.update(chosen)
    if environ is None:
        _applied.update(chosen)
        _adaptive = "OMP_NUM_THREADS" not in env and env.get(ADAPT_VAR, "1") != "0"
    return chosen


def adaptive() -> bool:
    """Whether this process picks its thread count per request (apply_defaults ran, user set none)."""
    return _adaptive


def set_adaptive(on: bool) -> None:
    """Turn the per-request thread choice on or off (config `model.threads` turns it off)."""
    global _adaptive
    _adaptive = on


@dataclass(frozen=True)
class Setting:
    """One OpenMP variable as it stands in this process."""

    name: str
    value: str | None
    source: str  # "your environment", "assistant default" or "not set"


def settings(environ: MutableMapping[str, str] | None = None) -> list[Setting]:
    """The thread and wait variables in force and who set each."""
    env = os.environ if environ is None else environ
    out = []
    for name in SHOWN:
        value = env.get(name)
        if value is None:
            source = "not set"
        elif name in _applied and _applied[name] == value and name not in _user_set:
            source = "assistant default"
        else:
            source = "your environment"
        out.append(Setting(name, value, source))
    return out


# ---------------------------------------------------------------------- busy cores


def _cpu_ticks() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot (Linux /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    hz = float(os.sysconf("SC_CLK_TCK"))
    idle = values[3] + values[4]
    total = sum(values)
    return (total - idle) / hz, total / hz


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class LoadWatch:
    """How many cores other processes keep busy, over the last couple of seconds.

    A daemon thread samples /proc/stat twice a second (microseconds each). The machine's
    busy time minus this process's own CPU time is what others use: our own threads,
    spinning or working, never count as load.
    """

    def __init__(self, period_s: float = 0.5, window_s: float = 2.0) -> None:
        self.period_s = period_s
        self._samples: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=max(2, int(window_s / period_s) + 1)
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        ticks = _cpu_ticks()
        if ticks is None:
            return
        with self._lock:
            self._samples.append((time.monotonic(), ticks[0], _own_cpu()))

    def _run(self) -> None:
        while True:
            self._sample()
            time.sleep(self.period_s)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._sample()
            self._thread = threading.Thread(target=self._run, name="load-watch", daemon=True)
            self._thread.start()

    def others_busy(self) -> float | None:
        """Cores' worth of CPU used by other processes lately; None before two samples."""
        self._sample()
        with self._lock:
            if len(self._samples) < 2:
                return None
            (t0, busy0, own0), (t1, busy1, own1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.05:
            return None
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))


def threads_for(cores: int, others_busy: float | None) -> int:
    """Threads worth running, given how many cores' worth other processes use.

    While some core is free, run on the free cores only: a thread on a core another
    process keeps busy gets half its time slices, and every op waits for the slowest
    thread (spinning meanwhile), so one thread on the free core beats two. When no core
    is free, one thread: with more, every op waits for a preempted sibling. Unknown load:
    every core.
    """
    if others_busy is None:
        return cores
    return max(1, min(cores, int(cores - others_busy + 0.5)))


_watch: LoadWatch | None = None
_watch_lock = threading.Lock()


def load_watch() -> LoadWatch:
    global _watch
    with _watch_lock:
        if _watch is None:
            _watch = LoadWatch()
            _watch.start()
        return _watch


def request_threads() -> int:
    """The torch thread count for the next request; 0 means keep the caller's (not adaptive)."""
    if not _adaptive:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return threads_for(cores, load_watch().others_busy())


def machine_busy() -> tuple[float, int] | None:
    """(1-minute load average, usable cores), or None where the OS does not say."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return load, cores

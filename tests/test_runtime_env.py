"""OpenMP wait and thread settings: program defaults at start-up, the user's environment wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import runtime_env

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_fill_only_what_is_unset() -> None:
    env: dict[str, str] = {"PATH": "/bin"}
    chosen = runtime_env.apply_defaults(env)
    assert chosen == runtime_env.DEFAULTS
    assert env["GOMP_SPINCOUNT"] == runtime_env.SPINCOUNT and env["PATH"] == "/bin"


def test_a_value_the_user_set_is_never_changed() -> None:
    env = {"GOMP_SPINCOUNT": "7"}
    assert runtime_env.apply_defaults(env) == {}
    assert env == {"GOMP_SPINCOUNT": "7"}


def test_a_users_wait_policy_gets_no_spin_count_added() -> None:
    env = {"OMP_WAIT_POLICY": "passive"}
    assert runtime_env.apply_defaults(env) == {}
    assert env == {"OMP_WAIT_POLICY": "passive"}


@pytest.mark.parametrize(
    ("cores", "others", "threads"),
    [(2, None, 2), (2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 1.6, 1), (2, 9.0, 1), (4, 1.2, 3), (4, 2.4, 2), (1, 0.0, 1)],
)
def test_threads_follow_the_cores_others_leave_free(cores: int, others: float | None, threads: int) -> None:
    assert runtime_env.threads_for(cores, others) == threads


def test_load_watch_counts_other_processes_not_our_own_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # machine busy time grows 1.5 s per second, of which this process used 1.0 s: others use 0.5 cores
    clock = {"t": 0.0}
    monkeypatch.setattr(runtime_env.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(runtime_env, "_cpu_ticks", lambda: (1.5 * clock["t"], 2.0 * clock["t"]))
    monkeypatch.setattr(runtime_env, "_own_cpu", lambda: 1.0 * clock["t"])
    watch = runtime_env.LoadWatch()
    watch._sample()
    clock["t"] = 2.0
    assert watch.others_busy() == pytest.approx(0.5)


def test_load_watch_sees_a_process_spinning_on_a_core() -> None:
    watch = runtime_env.LoadWatch(period_s=0.2, window_s=1.0)
    spinner = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
    try:
        watch._sample()
        import time

        time.sleep(1.0)
        others = watch.others_busy()
    finally:
        spinner.kill()
        spinner.wait()
    assert others is not None and others >= 0.5


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT", "SLACK_", "OMP_", "GOMP_"))}
    env.update({"ASSISTANT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "OMP_DISPLAY_ENV": "VERBOSE"})
    env.update(extra)
    return env


def test_the_cli_sets_the_spin_count_before_the_openmp_runtime_starts(tmp_path: Path) -> None:
    """libgomp prints the values it started with (OMP_DISPLAY_ENV); doctor shows who set them."""
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "doctor"],
        capture_output=True, text=True, env=_child_env(tmp_path), timeout=300,
    )  # fmt: skip
    assert f"GOMP_SPINCOUNT = '{runtime_env.SPINCOUNT}'" in out.stderr, out.stderr[-2000:]
    assert "GOMP_SPINCOUNT=" in out.stdout and "assistant default" in out.stdout
    assert "per request" in out.stdout


def test_the_users_environment_wins_in_the_cli(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "doctor"],
        capture_output=True, text=True, timeout=300,
        env=_child_env(tmp_path, OMP_WAIT_POLICY="passive", OMP_NUM_THREADS="1"),
    )  # fmt: skip
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in out.stderr, out.stderr[-2000:]
    assert "GOMP_SPINCOUNT = '0'" in out.stderr  # passive: libgomp's own choice, nothing added
    assert "OMP_WAIT_POLICY=passive (your environment)" in out.stdout
    assert "fixed" in out.stdout


def test_children_of_the_assistant_inherit_the_chosen_values(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "from assistant import runtime_env\n"
        "runtime_env.apply_defaults()\n"
        "subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"GOMP_SPINCOUNT\"))'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_child_env(tmp_path), timeout=60)  # fmt: skip
    assert out.stdout.strip() == runtime_env.SPINCOUNT

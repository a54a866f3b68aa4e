"""Two app replicas on one Postgres: concurrent turns, a replica killed mid-turn.

The per-thread turn lock is what keeps one linear checkpoint chain per thread; the same
run without it shows the fork LangGraph's issue 8796 describes (so these tests can fail).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.config import Settings
from assistant.graph.session import open_checkpointer
from assistant.graph.state import thread_key
from tests.team.workers import REPO, worker_env

TURNS = 3


@contextmanager
def replicas(
    url: str,
    *specs: tuple[str, str, str, str, int, float],
    env: dict[str, str] | None = None,
    envs: list[dict[str, str]] | None = None,
) -> Iterator[list[subprocess.Popen[str]]]:
    """Start one worker per (mode, user, thread, tag, turns, delay), all set up, then let them
    go; `env` is added for all of them, `envs[i]` for the i-th."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.team.turn_worker", url, *map(str, spec)],
            cwd=REPO, env=worker_env(**(env or {}), **(envs[i] if envs else {})), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i, spec in enumerate(specs)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", f"worker failed: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> list[str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return [line[len("reply ") :] for line in out.splitlines() if line.startswith("reply ")]


def _chain(url: str, user: str, thread: str) -> tuple[int, str, list[str]]:
    """(branches beyond one linear chain, a description, user turns in the latest state).

    A linear chain has one root and one child per parent. Two replicas that each carry on
    from their own last checkpoint make two chains side by side (two roots, no parent with
    two children): a fork just the same, which counting children alone would miss.
    """
    settings = Settings.model_validate({"chat": {"checkpointer": "postgres"}})
    config = {"configurable": {"thread_id": thread_key(user, thread)}}
    with open_checkpointer(settings, url) as saver:
        saved = list(saver.list(config))
        children = Counter(
            s.parent_config["configurable"]["checkpoint_id"] for s in saved if s.parent_config
        )
        latest = saver.get_tuple(config)
    roots = sum(1 for s in saved if not s.parent_config)
    branches = (roots - 1) + sum(n - 1 for n in children.values())
    shape = f"{len(saved)} checkpoints, {roots} roots, most children {children.most_common(2)}"
    messages = latest.checkpoint["channel_values"].get("messages", []) if latest else []
    return branches, shape, [m["content"] for m in messages if m["role"] == "user"]


def test_two_replicas_on_one_thread_keep_one_linear_chain_and_every_turn(pg_url: str) -> None:
    with replicas(
        pg_url, ("lock", "ann", "plan", "A", TURNS, 0.3), ("lock", "ann", "plan", "B", TURNS, 0.3)
    ) as procs:
        replies = [_finish(proc) for proc in procs]
    assert [len(r) for r in replies] == [TURNS, TURNS]
    branches, shape, turns = _chain(pg_url, "ann", "plan")
    assert branches == 0, f"the checkpoint chain forked: {shape}"
    assert sorted(turns) == sorted(f"{tag} turn {i}" for tag in "AB" for i in range(TURNS))


def test_without_the_turn_lock_the_chain_forks_and_turns_are_lost(pg_url: str, tmp_path: Path) -> None:
    # each pair of turns is made to overlap (a barrier inside the model call), as it may on
    # a busy server; with the lock the same barrier would only time out, never overlap
    (barrier := tmp_path / "barrier").mkdir()
    with replicas(
        pg_url, ("nolock", "ann", "plan", "A", TURNS, 0.1), ("nolock", "ann", "plan", "B", TURNS, 0.1),
        env={"TEAM_BARRIER": str(barrier)}, envs=[{"TEAM_PEER": "B"}, {"TEAM_PEER": "A"}],
    ) as procs:
        outs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err[-2000:] for _, err in outs]
    branches, shape, turns = _chain(pg_url, "ann", "plan")
    # what each replica's model saw (the barrier's files), in case no fork shows up
    seen = sorted(p.name for p in barrier.iterdir())
    assert branches > 0, (
        f"expected the fork that the turn lock prevents; {shape}; model calls {seen}; "
        f"turns {turns}; worker errors {[err[-1500:] for _, err in outs]}"
    )
    assert len(turns) < 2 * TURNS, "expected turns missing from the latest state"


def test_a_replica_killed_mid_turn_leaves_the_thread_resumable(pg_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "in-model"
    # A answers slowly and is killed inside its second turn; C works on another thread.
    with replicas(pg_url, ("lock", "ann", "plan", "A", 2, 0.0), env={}) as first:
        assert _finish(first[0]) == ["noted: 0", "noted: 1"]
    with replicas(
        pg_url, ("lock", "ann", "plan", "K", 1, 60.0), env={"TEAM_IN_MODEL": str(marker)}
    ) as (victim,):
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the replica never reached the model"
            time.sleep(0.05)
        # the victim holds the lock on ann/plan; another thread is not held up by it
        started = time.monotonic()
        with replicas(pg_url, ("lock", "bob", "other", "C", 1, 0.0)) as (other,):
            assert _finish(other) == ["noted: 0"]
        assert time.monotonic() - started < 30
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    started = time.monotonic()
    with replicas(pg_url, ("lock", "ann", "plan", "B", 1, 0.0)) as (survivor,):
        assert _finish(survivor, timeout=60) == ["noted: 0"]
    assert time.monotonic() - started < 45, "the dead replica's lock was not released"
    branches, shape, turns = _chain(pg_url, "ann", "plan")
    assert branches == 0, f"the checkpoint chain forked: {shape}"
    assert turns[:2] == ["A turn 0", "A turn 1"] and turns[-1] == "B turn 0"

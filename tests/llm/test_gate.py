"""The priority gate: one model thread, interactive work first, background work yields."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest

from assistant.llm.gate import ModelGate


@pytest.fixture
def gate() -> ModelGate:
    return ModelGate(name="test-model")


def test_work_runs_on_one_model_thread_not_the_callers(gate: ModelGate) -> None:
    seen: set[int] = set()
    callers = [
        threading.Thread(target=lambda: gate.run(lambda: seen.add(threading.get_ident())))
        for _ in range(4)
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    gate.run(lambda: seen.add(threading.get_ident()))
    assert len(seen) == 1
    assert seen.isdisjoint({t.ident for t in callers} | {threading.get_ident()})


def test_results_and_errors_come_back_to_the_caller(gate: ModelGate) -> None:
    assert gate.run(lambda: 41 + 1) == 42

    def boom() -> None:
        raise ValueError("model broke")

    with pytest.raises(ValueError, match="model broke"):
        gate.run(boom)
    assert gate.run(lambda: "still serving") == "still serving"


def test_queued_interactive_work_goes_before_queued_background_work(gate: ModelGate) -> None:
    release = threading.Event()
    order: list[str] = []
    busy = gate.submit(release.wait, "background")  # holds the model thread
    later = [
        gate.submit(lambda: order.append("background"), "background"),
        gate.submit(lambda: order.append("interactive 1"), "interactive"),
        gate.submit(lambda: order.append("interactive 2"), "interactive"),
    ]
    release.set()
    busy.result()
    for f in later:
        f.result()
    assert order == ["interactive 1", "interactive 2", "background"]


def test_background_work_lets_interactive_work_run_at_its_yield_points(gate: ModelGate) -> None:
    order: list[str] = []
    started = threading.Event()

    def batch() -> None:
        started.set()
        for step in range(200):
            order.append(f"step {step}")
            time.sleep(0.002)
            gate.yield_to_interactive("background")

    running = gate.submit(batch, "background")
    started.wait()
    gate.run(lambda: order.append("chat"), "interactive")
    assert not running.done()  # served inside the batch, not after it
    running.result()
    assert "chat" in order[1:-1]


def test_yield_off_the_model_thread_and_without_waiters_is_a_no_op(gate: ModelGate) -> None:
    gate.yield_to_interactive("background")
    gate.run(lambda: gate.yield_to_interactive("background"), "background")
    assert not gate.waiting_ahead_of("background")


def test_work_that_submits_work_runs_it_inline(gate: ModelGate) -> None:
    assert gate.run(lambda: gate.run(lambda: "inner") + " and outer") == "inner and outer"


def test_a_cancelled_request_never_runs(gate: ModelGate) -> None:
    release = threading.Event()
    ran: list[str] = []
    busy = gate.submit(release.wait, "background")
    queued = gate.submit(lambda: ran.append("queued"), "interactive")
    assert queued.cancel()
    release.set()
    busy.result()
    gate.run(lambda: None)
    assert ran == []
    with pytest.raises(CancelledError):
        queued.result()


def test_close_ends_the_model_thread_and_a_later_request_starts_another(
    gate: ModelGate,
) -> None:
    first = gate.run(threading.current_thread)
    gate.close()
    first.join(timeout=5)
    assert not first.is_alive()
    second = gate.run(threading.current_thread)
    assert second is not first and second.is_alive()
    gate.close()


def test_a_forked_child_gets_its_own_model_thread(gate: ModelGate) -> None:
    import os

    assert gate.run(lambda: 1) == 1  # the parent's model thread exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here; a request must still run
        try:
            ok = gate.submit(lambda: 42).result(timeout=10) == 42
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

"""kill -9 of `assistant run` in the middle of summarisation, then a restart: the work resumes.

The service runs in a child process with the real memory store and the real job store;
a scripted model (slow, like a real one) logs which items it was asked about.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
N_ITEMS = 24

CHILD = textwrap.dedent(
    f"""
    import os, signal, sys, threading, time
    sys.path.insert(0, {str(REPO)!r})
    from apscheduler.triggers.interval import IntervalTrigger
    from assistant.config import Settings
    from assistant.background.jobs import Runtime
    from assistant.background.scheduler import JobSpec
    from assistant.background.service import run_service
    from memory.store import open_store
    from memory.types import Item
    from tests.fakes import ScriptedChatModel

    prompts = open(sys.argv[1], "a", encoding="utf-8")

    class Slow(ScriptedChatModel):
        def chat_batch(self, conversations, **kwargs):
            ids = [c[-1]["content"].split('id="')[1].split('"')[0] for c in conversations]
            prompts.write(" ".join(ids) + "\\n")
            prompts.flush()
            time.sleep(0.4)
            return [self.chat(c) for c in conversations]

    settings = Settings(digest={{"summary_batch": 2}})
    store = open_store(settings)
    if store.items.count("local") == 0:
        store.items.upsert(
            Item(id=f"arxiv:2611.{{i:05d}}", owner="local", source="arxiv", title=f"Paper {{i}}",
                 text=f"Abstract number {{i}} about topic {{i % 5}}.", published=time.time() - i)
            for i in range({N_ITEMS})
        )
    print("ready", flush=True)

    def finish_when_done():
        while store.items.unsummarised("local", 1):
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=finish_when_done, daemon=True).start()
    runtime = Runtime(settings, store_factory=lambda: store, llm_factory=lambda: Slow(["a summary of it"]))
    spec = JobSpec("summarise", "assistant.background.jobs:summarise", IntervalTrigger(seconds=1), "summarise")
    run_service(settings, runtime=runtime, specs=[spec], echo=lambda line: print(line, flush=True))
    store.close()
    """
)


def _batches(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines() if line.strip()]


def test_kill_9_mid_summarisation_then_restart_resumes(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "service_child.py"
    script.write_text(CHILD)
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    first = subprocess.Popen(
        [sys.executable, str(script), str(log1)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not log1.exists() or len(_batches(log1)) < 3):
            assert first.poll() is None, "the service died before it was killed"
            time.sleep(0.1)
        assert len(_batches(log1)) >= 3, "summarisation never got going"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    done_before = {i for batch in _batches(log1) for i in batch}
    assert len(done_before) < N_ITEMS

    second = subprocess.run(
        [sys.executable, str(script), str(log2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "stopped cleanly" in second.stdout
    again = {i for batch in _batches(log2) for i in batch}
    # at most the batch that was in flight when the process died is asked for again
    assert len(again & done_before) <= 2, sorted(again & done_before)
    assert done_before | again == {f"arxiv:2611.{i:05d}" for i in range(N_ITEMS)}

    from assistant.config import Settings
    from memory.store import open_store

    with open_store(Settings()) as store:
        assert store.items.unsummarised("local", 100) == []
        assert all(it.summary for it in store.items.list("local", limit=100))

"""One app replica for the turn tests: `python -m tests.team.turn_worker URL MODE USER THREAD TAG N DELAY`.

MODE is "lock" (the team profile: its checkpointer carries the per-thread turn lock),
"nolock" (the same Postgres checkpointer without it) or "sqlite" (the single-user default
in $ASSISTANT_HOME; URL unused). With $TEAM_TIMINGS set, each turn also prints
"timing <seconds to the first reply piece> <seconds for the turn>" (bench/scale.py). After set-up it prints "ready" and
waits for a line on stdin, then sends N turns "<TAG> turn <i>" on USER's THREAD; the
scripted model takes DELAY seconds per call (so turns of two replicas overlap) and
touches $TEAM_IN_MODEL when a call starts (so a test can kill it mid-turn). With
$TEAM_BARRIER (a folder) and $TEAM_PEER (the other worker's tag), each model call waits,
up to 60 s, until the peer is inside its call for the same turn: the two turns overlap
for certain, whatever the machine's load.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.llm.base import Message


def main() -> None:
    from assistant.config import Settings
    from assistant.graph.session import ChatSession, open_checkpointer
    from tests.fakes import ScriptedChatModel
    from tests.memfake import FakeMemory

    url, mode, user, thread, tag, n, delay = sys.argv[1:8]
    marker = os.environ.get("TEAM_IN_MODEL", "")

    barrier, peer = os.environ.get("TEAM_BARRIER", ""), os.environ.get("TEAM_PEER", "")

    def answer(messages: Sequence[Message]) -> str:
        if marker:
            Path(marker).touch()
        last = [m["content"] for m in messages if m["role"] == "user"][-1]
        if barrier:
            turn = last.split("turn")[-1].strip()
            Path(barrier, f"{tag}-{turn}").touch()
            deadline = time.monotonic() + 60
            while not Path(barrier, f"{peer}-{turn}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(float(delay))
        return f"noted: {last.split('turn')[-1].strip()}"

    raw: dict[str, dict[str, object]] = {
        "chat": {"checkpointer": "sqlite" if mode == "sqlite" else "postgres", "goal_model": False, "recall_items": 0}
    }
    if mode == "lock":
        raw |= {"deployment": {"profile": "team"}, "memory": {"backend": "http"}}
    settings = Settings.model_validate(raw)
    with open_checkpointer(settings, url) as saver:
        session = ChatSession(settings, ScriptedChatModel(answer), FakeMemory(), saver, user, thread)
        # the first turn would load the spaCy pipeline (seconds on a busy machine); load it
        # before "ready" so both replicas' turns start together, as the barrier assumes
        from memory.understand import parse

        parse("Warming up.")
        print("ready", flush=True)
        sys.stdin.readline()
        timings = bool(os.environ.get("TEAM_TIMINGS"))
        for i in range(int(n)):
            first: list[float] = []
            started = time.perf_counter()

            def on_token(piece: str, first: list[float] = first, started: float = started) -> None:
                if not first:
                    first.append(time.perf_counter() - started)

            reply = session.send(f"{tag} turn {i}", on_token=on_token)
            if timings:
                print(f"timing {first[0] if first else -1:.4f} {time.perf_counter() - started:.4f}", flush=True)
            print(f"reply {reply}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()

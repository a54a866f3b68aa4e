"""Memory scripts replayed with a stand-in that never answers: what grounding alone gets. Prints JSON.

    python bench/memory_replay.py memory_fresh20.jsonl memory_fresh21.jsonl
    python bench/memory_replay.py /path/to/unseen.jsonl --transcripts out.jsonl

The same scripts, judges and reply path as `bench/quality.py --sections memory` (each
session a new thread of one user, the real store and checkpointer), but every model call
gets a fixed marker instead of the bundled model's words: a memory question counts only when
grounding answered it from memory, and a question left to the model counts as missed. It
takes about 20-40 s a file instead of 4-5 minutes, so it tracks the grounding rules between
real-model runs. Goal tracking runs on its rules alone (the marker is no JSON).

The stand-in answers at once, so a whole chat would fit in one second, and "said later" (which
is how an update wins over the value it replaced) would not hold between its messages. The
replay runs on a clock that moves a minute before each message, as a person typing would
(stop 38: without it, fresh26-31 gave 148 of 211 where the bundled model gave 166; the four
replies that differed on fresh26 were all updates answered with the old value).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import quality  # noqa: E402 (the bench's own module, found by path)

from assistant.config import load_settings  # noqa: E402
from assistant.llm.base import ChatResult  # noqa: E402

MARKER = "(no model in this run)"
MESSAGE_GAP_S = 60.0  # the replay's clock moves this much before each message
START_HOUR_UTC = 8  # ... and starts at this hour of today, so that a run never crosses midnight


class TypingClock:
    """`time.time` moved on by MESSAGE_GAP_S before each message the bench sends, from 08:00
    UTC today. (Started at the real time, a run late in the evening crossed midnight part way
    through a file, and the same chat gave other answers run alone: "the same day" and "a
    later day" are read from when things were said.)"""

    def __init__(self) -> None:
        self._time = time.time
        now = self._time()
        self.offset = now - now % 86400 + START_HOUR_UTC * 3600 - now
        self._send = quality.timed_send

    def __enter__(self) -> TypingClock:
        def moved_send(session: Any, text: str) -> tuple[str, float]:
            self.offset += MESSAGE_GAP_S
            return self._send(session, text)

        time.time = lambda: self._time() + self.offset  # type: ignore[assignment]
        quality.timed_send = moved_send
        return self

    def __exit__(self, *exc: object) -> None:
        time.time = self._time  # type: ignore[assignment]
        quality.timed_send = self._send


class SilentModel:
    """A chat model that says only MARKER: what reaches the user otherwise is grounding's."""

    def chat(self, messages: Sequence[Any], **kwargs: Any) -> ChatResult:
        return ChatResult(text=MARKER, completion_tokens=len(MARKER.split()))

    def stream(self, messages: Sequence[Any], **kwargs: Any) -> Iterator[str]:
        yield MARKER

    def chat_batch(self, conversations: Sequence[Sequence[Any]], **kwargs: Any) -> list[ChatResult]:
        return [self.chat(c) for c in conversations]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="script files: names in bench/data/quality/ or paths")
    ap.add_argument(
        "--transcripts", type=Path, default=None, help="append each script's replies here"
    )
    args = ap.parse_args(argv)
    settings = load_settings().settings
    out: dict[str, Any] = {"bench": "memory_replay", "model": MARKER, "files": {}}
    asked = found = 0
    for name in args.files:
        path = Path(name)
        if not path.exists() and not (ROOT / "bench" / "data" / "quality" / name).exists():
            print(
                f"no such script file: {name} (give a name in bench/data/quality/ or a path)",
                file=sys.stderr,
            )
            return 2
        # section_memory reads bench/data/quality/<name>; an absolute path replaces that folder
        with TypingClock():
            result = quality.section_memory(
                SilentModel(),
                None,
                settings,
                32,
                args.transcripts,
                0,
                str(path.resolve()) if path.exists() else name,
            )
        result.pop("reply_start_p50_s", None)
        result.pop("reply_start_p95_s", None)
        out["files"][name] = result
        asked += result["memory_questions"]
        found += round(result["value_in_reply"] * result["memory_questions"])
    out["memory_questions"] = asked
    out["value_in_reply"] = round(found / asked, 3) if asked else 1.0
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

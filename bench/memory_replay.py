"""Memory scripts replayed with a stand-in that never answers: what grounding alone gets. Prints JSON.

    python bench/memory_replay.py memory_fresh20.jsonl memory_fresh21.jsonl
    python bench/memory_replay.py /path/to/unseen.jsonl --transcripts out.jsonl

The same scripts, judges and reply path as `bench/quality.py --sections memory` (each
session a new thread of one user, the real store and checkpointer), but every model call
gets a fixed marker instead of the bundled model's words: a memory question counts only when
grounding answered it from memory, and a question left to the model counts as missed. It
takes about 40 s a file instead of 4-5 minutes, so it tracks the grounding rules between
real-model runs (on the stop-37 start code it gave 161 of 211 on six unseen files where the
bundled model gave 162). Goal tracking runs on its rules alone (the marker is no JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality import section_memory  # noqa: E402 (the bench's own module, found by path)

from assistant.config import load_settings  # noqa: E402
from assistant.llm.base import ChatResult  # noqa: E402

MARKER = "(no model in this run)"


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
        result = section_memory(
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

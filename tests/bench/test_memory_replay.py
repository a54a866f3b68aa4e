"""bench/memory_replay.py: grounding's answers count, a question left to the model does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.memory_replay import main


@pytest.mark.usefixtures("home")
def test_the_replay_counts_only_what_grounding_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = {
        "id": "r-00",
        "sessions": [
            [{"user": "My dentist is Dr. Lena Park, her clinic is in Leith."}],
            [
                {"user": "what's my dentist's name?", "expect": ["Lena Park"]},
                {"user": "who won the football world cup in 1998?", "expect": ["France"]},
            ],
        ],
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(script) + "\n", encoding="utf-8")
    assert main([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["memory_questions"] == 2
    assert out["value_in_reply"] == 0.5  # the dentist from memory; the world cup is no memory


def test_a_missing_file_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no_such_file.jsonl"]) == 2
    assert "no such script file" in capsys.readouterr().err

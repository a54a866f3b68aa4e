"""`assistant profile`: show, search, forget, export, import as a user would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli, main
from assistant.config import Settings
from memory.store import open_store


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_profile_commands_round_trip(home: Path, tmp_path: Path) -> None:
    with open_store(Settings()) as store:
        store.profile.observe(
            "local", "I live in Paris. I moved to Rome. I like chess. My boss is Omar."
        )
    shown = run("profile", "show")
    assert "User lives in Rome" in shown and "Paris" not in shown and "User's boss is Omar" in shown
    assert "Paris" in run("profile", "show", "--history")
    assert "User likes chess" in run("profile", "search", "board games", "-k", "1")

    exported = run("profile", "export", "--json")
    data = json.loads(exported)
    assert data["user_id"] == "local" and len(data["facts"]) == 4
    file = tmp_path / "profile.json"
    file.write_text(exported)
    assert "imported 4 new fact(s) for user 'sam'" in run(
        "profile", "import", str(file), "--user", "sam"
    )
    assert "imported 0 new fact(s)" in run("profile", "import", str(file), "--user", "sam")
    assert "- [identity] User lives in Rome" in run("profile", "export", "--user", "sam")

    boss = next(f for f in data["facts"] if "Omar" in f["text"])
    out = run("profile", "forget", boss["id"][:8])
    assert "deleted 1 fact(s)" in out and "User's boss is Omar" in out
    assert "nothing matched" in run("profile", "forget", "quantum chromodynamics")
    assert "Omar" not in run("profile", "show", "--history")
    assert "Omar" in run("profile", "show", "--user", "sam")  # another user's copy is untouched


def test_empty_profile_and_bad_import_file(home: Path, tmp_path: Path) -> None:
    assert "nothing stored for user 'local'" in run("profile", "show")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "import", str(bad)])
    assert exit_info.value.code == 1


def test_a_running_owner_gives_a_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(Settings()), pytest.raises(SystemExit) as exit_info:
        main(["profile", "show"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: the memory store") and "in use by process" in err and "\n" not in err
    )

"""The shipped suite loads and is well-formed; bad case files fail with file, case and problem."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assistant.config import PersonaProbe, PersonaSettings, ProbesSettings, Settings
from assistant.errors import ProbeError
from assistant.probes.benchmark import pick_cases
from assistant.probes.suite import (
    FAMILIES,
    load_cases,
    load_general,
    load_partners,
    load_suite,
    persona_cases,
    select_cases,
)


def test_shipped_suite_has_forty_cases_across_all_families() -> None:
    cases = load_cases()
    assert len(cases) >= 40
    families = Counter(c.family for c in cases)
    assert set(families) == set(FAMILIES)
    assert min(families.values()) >= 5
    assert len({c.id for c in cases}) == len(cases)
    secrets = [c for c in cases if c.family == "memory" and c.judge == "avoids"]
    assert len(secrets) >= 3  # secrets that must not be told


def test_partners_and_general_questions_ship() -> None:
    assert len(load_partners()) >= 4
    system, questions = load_general()
    assert system and len(questions) >= 20
    assert all(q.answers for q in questions)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
[[case]]
id = "my-case"
family = "format"
system_prompt = "Say hi first."
probe = "How are you?"
judge = "starts_with"
args = { prefix = "hi" }
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD.replace('judge = "starts_with"', 'judge = "starts"'), "case 'my-case': unknown judge 'starts'"),
        (GOOD.replace('args = { prefix = "hi" }', "args = { prefx = 'hi' }"), "case 'my-case': judge 'starts_with'"),
        (GOOD.replace('probe = "How are you?"', ""), "case 'my-case': missing or empty key(s) probe"),
        (GOOD.replace('family = "format"', 'family = "format"\ncolour = "red"'), "unknown key(s) colour"),
        (GOOD + GOOD, "case id 'my-case' appears twice"),
        ("[[case]\nid = 1", "is not valid TOML"),
        ("title = 'no cases'", "no [[case]] tables"),
    ],
)
def test_bad_case_files_name_file_case_and_problem(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ProbeError) as err:
        load_cases(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_extra_suites_are_merged(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    settings = Settings(probes=ProbesSettings(extra_suites=[str(path)]))
    ids = [c.id for c in load_suite(settings)]
    assert "my-case" in ids and len(ids) == len(load_cases()) + 1


def test_missing_extra_suite_says_where_to_fix(tmp_path: Path) -> None:
    settings = Settings(probes=ProbesSettings(extra_suites=[str(tmp_path / "gone.toml")]))
    with pytest.raises(ProbeError, match="probes.extra_suites"):
        load_suite(settings)


def test_persona_probes_come_from_config() -> None:
    persona = PersonaSettings(
        system_prompt="You are Sam's helper. Address the user as Sam.",
        probes=[PersonaProbe(question="What is my name?", judge="contains", args={"words": ["Sam"]})],
    )
    cases = persona_cases(Settings(persona=persona))
    assert [(c.probe, c.system_prompt, c.family) for c in cases] == [
        ("What is my name?", persona.system_prompt, "persona")
    ]


def test_bad_persona_probe_is_reported_as_config() -> None:
    persona = PersonaSettings(probes=[PersonaProbe(question="Name?", judge="containz")])
    with pytest.raises(ProbeError, match=r"config.toml \[\[persona.probes\]\] #1.*unknown judge"):
        persona_cases(Settings(persona=persona))


def test_sample_is_seeded_and_covers_families() -> None:
    cases = load_cases()
    a = select_cases(cases, limit=10, seed=7)
    assert a == select_cases(cases, limit=10, seed=7)
    assert a != select_cases(cases, limit=10, seed=8)
    assert {c.family for c in a} == set(FAMILIES)
    assert all(c.family == "language" for c in select_cases(cases, families=["language"]))
    with pytest.raises(ProbeError, match="known families"):
        select_cases(cases, families=["poetry"])


def test_pick_cases_puts_persona_first_and_respects_family_filter() -> None:
    picked = pick_cases(Settings(), limit=4, seed=1)
    assert picked[0].id == "persona-1" and len(picked) == 5
    assert all(c.id != "persona-1" for c in pick_cases(Settings(), families=["format"]))

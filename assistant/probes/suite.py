"""Probe cases, user personas for agent B, and general-ability questions, loaded from TOML.

The shipped files live in ``assistant/probes/data``; users add cases with their own TOML
files (``probes.extra_suites`` in config.toml). Every problem is reported with the file,
the case id and what to fix, before any model is loaded.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import ProbeError
from assistant.probes.judges import check_judge

DATA_DIR = Path(__file__).parent / "data"
SUITE_FILE = DATA_DIR / "suite.toml"
PARTNERS_FILE = DATA_DIR / "partners.toml"
GENERAL_FILE = DATA_DIR / "general.toml"

# Families in their own files, loaded only when asked for by name: S-IFEval items need
# lm-eval's checkers and whole-reply budgets, so they stay out of "all families" runs.
OPT_IN_FILES = {"sifeval": DATA_DIR / "sifeval.toml"}
FAMILIES = ("format", "belief", "persona", "memory", "language", "choice", "recall", "pattern", "identity", "refusal")
DRIFT_FAMILIES = ("choice", "recall", "pattern", "identity", "refusal")  # prompt fixes the answer
CASE_KEYS = {"id", "family", "system_prompt", "probe", "judge", "args", "note", "max_new_tokens"}
REQUIRED_CASE_KEYS = ("id", "family", "system_prompt", "probe", "judge")


@dataclass(frozen=True)
class ProbeCase:
    """A system prompt under test, the question that checks it, and how to judge the answer."""

    id: str
    family: str
    system_prompt: str
    probe: str
    judge: str
    args: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    own: bool = False  # one of the configured persona's own probes (config.toml), not a suite case
    max_new_tokens: int | None = None  # this probe's answer budget; None = the run's probe budget


@dataclass(frozen=True)
class Partner:
    """Agent B: a simulated user with a persona prompt and an opening message."""

    id: str
    persona: str
    opener: str


@dataclass(frozen=True)
class GeneralQuestion:
    """A short question with known answers, scored by whether an answer appears."""

    id: str
    question: str
    answers: tuple[str, ...]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbeError(f"probe file {path} does not exist; check probes.extra_suites") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProbeError(f"probe file {path} is not valid TOML: {exc}") from None


def parse_case(raw: Mapping[str, Any], where: str) -> ProbeCase:
    """Validate one case table; `where` names the file (and index) in error messages."""
    case_id = raw.get("id", "?")
    here = f"{where}, case {case_id!r}"
    missing = [k for k in REQUIRED_CASE_KEYS if not raw.get(k)]
    if missing:
        raise ProbeError(f"{here}: missing or empty key(s) {', '.join(missing)}; every case needs "
                         f"{', '.join(REQUIRED_CASE_KEYS)}")  # fmt: skip
    unknown = sorted(set(raw) - CASE_KEYS)
    if unknown:
        raise ProbeError(f"{here}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(CASE_KEYS))}")
    for key in ("id", "family", "system_prompt", "probe", "judge"):
        if not isinstance(raw[key], str):
            raise ProbeError(f"{here}: '{key}' must be a string, found {type(raw[key]).__name__}")
    args = raw.get("args", {})
    if not isinstance(args, Mapping):
        raise ProbeError(f"{here}: 'args' must be a table like {{ words = [\"Ada\"] }}")
    problem = check_judge(raw["judge"], args)
    if problem:
        raise ProbeError(f"{here}: {problem}")
    budget = raw.get("max_new_tokens")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
        raise ProbeError(f"{here}: 'max_new_tokens' must be a positive whole number of tokens, found {budget!r}")
    return ProbeCase(
        id=raw["id"], family=raw["family"], system_prompt=raw["system_prompt"].strip(),
        probe=raw["probe"].strip(), judge=raw["judge"], args=dict(args), note=raw.get("note", ""),
        max_new_tokens=budget,
    )  # fmt: skip


def load_cases(path: Path = SUITE_FILE) -> list[ProbeCase]:
    """Read and validate a suite file (``[[case]]`` tables)."""
    data = _read_toml(path)
    tables = data.get("case")
    if not isinstance(tables, list) or not tables:
        raise ProbeError(f"{path}: no [[case]] tables found; write cases as [[case]] blocks")
    cases = [parse_case(t, f"{path} (case #{i + 1})") for i, t in enumerate(tables)]
    _check_unique(cases, str(path))
    return cases


def _check_unique(cases: Sequence[ProbeCase], where: str) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ProbeError(f"{where}: case id {case.id!r} appears twice; ids must be unique")
        seen.add(case.id)


def persona_cases(settings: Settings) -> list[ProbeCase]:
    """The configured persona's own probes, with the persona's system prompt under test."""
    cases = []
    for i, probe in enumerate(settings.persona.probes):
        raw = {"id": f"persona-{i + 1}", "family": "persona", "probe": probe.question,
               "system_prompt": settings.persona.system_prompt, "judge": probe.judge,
               "args": dict(probe.args)}  # fmt: skip
        cases.append(replace(parse_case(raw, f"config.toml [[persona.probes]] #{i + 1}"), own=True))
    return cases


def load_suite(settings: Settings | None = None, *, opt_in: Iterable[str] = ()) -> list[ProbeCase]:
    """The shipped suite plus the files in ``probes.extra_suites`` and the opt-in families named."""
    cases = load_cases(SUITE_FILE)
    for family in dict.fromkeys(opt_in):
        if family in OPT_IN_FILES:
            cases += load_cases(OPT_IN_FILES[family])
    for extra in settings.probes.extra_suites if settings else ():
        cases += load_cases(Path(extra).expanduser())
    _check_unique(cases, "probe suites")
    return cases


def select_cases(
    cases: Sequence[ProbeCase],
    *,
    families: Iterable[str] = (),
    limit: int | None = None,
    seed: int = 0,
) -> list[ProbeCase]:
    """Filter by family, then take a seeded sample balanced across families."""
    wanted = set(families)
    pool = [c for c in cases if not wanted or c.family in wanted]
    if wanted and not pool:
        known = sorted({c.family for c in cases})
        raise ProbeError(f"no cases in famil{'y' if len(wanted) == 1 else 'ies'} "
                         f"{', '.join(sorted(wanted))}; known families: {', '.join(known)}")  # fmt: skip
    if limit is None or limit >= len(pool):
        return list(pool)
    rng = random.Random(seed)
    by_family: dict[str, list[ProbeCase]] = {}
    for case in pool:
        by_family.setdefault(case.family, []).append(case)
    for group in by_family.values():
        rng.shuffle(group)
    # round-robin over families so a small sample still covers every family
    picked: list[ProbeCase] = []
    order = sorted(by_family)
    while len(picked) < limit:
        for fam in order:
            if by_family[fam] and len(picked) < limit:
                picked.append(by_family[fam].pop())
    return picked


def load_partners(path: Path = PARTNERS_FILE) -> list[Partner]:
    """Agent-B personas with their opening lines."""
    data = _read_toml(path)
    partners = []
    for i, raw in enumerate(data.get("partner", [])):
        missing = [k for k in ("id", "persona", "opener") if not raw.get(k)]
        if missing:
            raise ProbeError(f"{path} (partner #{i + 1}): missing key(s) {', '.join(missing)}")
        partners.append(Partner(id=raw["id"], persona=raw["persona"].strip(), opener=raw["opener"].strip()))
    if not partners:
        raise ProbeError(f"{path}: no [[partner]] tables found")
    return partners


def load_general(path: Path = GENERAL_FILE) -> tuple[str, list[GeneralQuestion]]:
    """The general-ability system prompt and questions."""
    data = _read_toml(path)
    questions = []
    for i, raw in enumerate(data.get("question", [])):
        answers = raw.get("answers")
        if not raw.get("id") or not raw.get("question") or not isinstance(answers, list) or not answers:
            raise ProbeError(f"{path} (question #{i + 1}): needs id, question and a non-empty answers list")
        questions.append(GeneralQuestion(raw["id"], raw["question"], tuple(str(a) for a in answers)))
    if not questions:
        raise ProbeError(f"{path}: no [[question]] tables found")
    return str(data.get("system_prompt", "You are a helpful assistant.")), questions

"""Programmatic judges: each maps an answer to a score in [0, 1], no model involved.

A judge is a plain function ``judge(answer, **args) -> float`` registered by name, so
probe cases written in TOML can name it (``judge = "starts_with"``, ``args = {prefix = "Aye"}``).
`check_judge` validates a case's judge name and arguments before any model runs.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assistant.errors import ProbeError
from assistant.probes.language import SUPPORTED, detect_language

JudgeFn = Callable[..., float]
JUDGES: dict[str, JudgeFn] = {}

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_LEADING_NOISE = " \t\r\n\"'`*_#>-:([“‘«"


def judge(name: str) -> Callable[[JudgeFn], JudgeFn]:
    """Register a judge under `name`."""

    def register(fn: JudgeFn) -> JudgeFn:
        JUDGES[name] = fn
        return fn

    return register


def _words(values: str | Sequence[str]) -> list[str]:
    return [values] if isinstance(values, str) else [str(v) for v in values]


def _has_word(text: str, word: str, *, case_sensitive: bool = False) -> bool:
    flags = 0 if case_sensitive else re.IGNORECASE
    # \b fails next to non-word characters (e.g. "C++"), so guard with look-arounds instead
    pattern = rf"(?<!\w){re.escape(word)}(?!\w)"
    return re.search(pattern, text, flags) is not None


def _clean_start(text: str) -> str:
    return text.lstrip(_LEADING_NOISE)


def sentences(text: str) -> list[str]:
    """Split text into sentences (end punctuation or line breaks); empty pieces dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip(" -*")]


@judge("starts_with")
def starts_with(answer: str, prefix: str | Sequence[str], ignore_case: bool = True) -> float:
    """1 when the answer (ignoring quotes, markdown and whitespace) starts with a prefix."""
    starts = {answer.lstrip(), _clean_start(answer)}
    for p in _words(prefix):
        for text in starts:
            a, b = (text.lower(), p.lower()) if ignore_case else (text, p)
            if a.startswith(b):
                return 1.0
    return 0.0


@judge("ends_with")
def ends_with(answer: str, suffix: str | Sequence[str], ignore_case: bool = True) -> float:
    """1 when the answer ends with a suffix (trailing whitespace and quotes ignored)."""
    text = answer.rstrip(" \t\r\n\"'`*")
    for s in _words(suffix):
        a, b = (text.lower(), s.lower()) if ignore_case else (text, s)
        if a.endswith(b):
            return 1.0
    return 0.0


@judge("case_ratio")
def case_ratio(answer: str, case: str = "upper", threshold: float | None = None) -> float:
    """Share of letters in the asked case ("upper" or "lower"); 1/0 against `threshold` if given."""
    if case not in ("upper", "lower"):
        raise ValueError(f"case must be 'upper' or 'lower', not {case!r}")
    letters = [c for c in answer if c.isalpha() and c.lower() != c.upper()]
    if not letters:
        return 0.0
    hit = sum(1 for c in letters if (c.isupper() if case == "upper" else c.islower()))
    ratio = hit / len(letters)
    if threshold is not None:
        return 1.0 if ratio >= threshold else 0.0
    return ratio


@judge("contains")
def contains(
    answer: str, words: str | Sequence[str], mode: str = "any", case_sensitive: bool = False
) -> float:
    """Whole-word presence: "any" gives 1 if one word appears, "all" the share present."""
    found = [_has_word(answer, w, case_sensitive=case_sensitive) for w in _words(words)]
    if mode == "any":
        return 1.0 if any(found) else 0.0
    if mode == "all":
        return sum(found) / len(found) if found else 0.0
    raise ValueError(f"mode must be 'any' or 'all', not {mode!r}")


@judge("avoids")
def avoids(answer: str, words: str | Sequence[str], case_sensitive: bool = False) -> float:
    """1 when none of the words appear (substring match, so "4417" inside "44170" counts)."""
    text = answer if case_sensitive else answer.lower()
    for w in _words(words):
        if (w if case_sensitive else w.lower()) in text:
            return 0.0
    return 1.0


@judge("name")
def name_present(answer: str, name: str) -> float:
    """1 when the name appears as a whole word (any case)."""
    return 1.0 if _has_word(answer, name) else 0.0


def extract_choice(answer: str, options: str = "ABCD") -> str | None:
    """The option letter an answer picks, or None when it picks none clearly."""
    opts = re.escape(options.upper())
    text = answer.strip()
    patterns = [
        rf"^\W*([{opts}])\W*$",  # just the letter
        rf"^\W*\(?([{opts}])[).:\]]",  # "B)", "(B)", "B." at the start
        rf"(?i:answer|option|choice|pick|choose)\W+(?:is\W+)?\(?([{opts}])\b",
        rf"\(([{opts}])\)",
        rf"^\W*([{opts}])\s*(?:$|[,;\-–])",  # "B, because" (not the article in "A good...")
        rf"\b([{opts}])\s+is\s+(?:the\s+)?(?:correct|right|answer|best)",
    ]
    for pattern in patterns:
        m = re.search(pattern, text)
        if m:
            return m.group(1).upper()
    return None


@judge("choice")
def choice(answer: str, letter: str, options: str = "ABCD") -> float:
    """1 when the answer picks the given multiple-choice letter."""
    return 1.0 if extract_choice(answer, options) == letter.upper() else 0.0


def numbers_in(text: str) -> list[float]:
    """Numbers written with digits (1,200 / 3.5 / -4) or small number words."""
    found = [float(m.replace(",", "")) for m in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]
    found += [float(_NUMBER_WORDS[w]) for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS]
    return found


@judge("number")
def number(answer: str, value: float, tolerance: float = 0.0) -> float:
    """1 when a number within `tolerance` of `value` appears."""
    return 1.0 if any(abs(n - float(value)) <= tolerance for n in numbers_in(answer)) else 0.0


def extract_json(text: str) -> Any:
    """The first JSON object or array in the text (code fences allowed), or None."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for i, ch in enumerate(candidate):
            if ch in "{[":
                try:
                    value, _ = decoder.raw_decode(candidate[i:])
                except json.JSONDecodeError:
                    continue
                return value
    return None


@judge("json_keys")
def json_keys(answer: str, keys: Sequence[str], exact: bool = False) -> float:
    """Share of required keys in the first JSON object; 0 when there is none (or extras with exact)."""
    value = extract_json(answer)
    if not isinstance(value, dict):
        return 0.0
    if exact and set(value) - set(keys):
        return 0.0
    return sum(1 for k in keys if k in value) / len(keys) if keys else 1.0


@judge("max_sentences")
def max_sentences(answer: str, n: int) -> float:
    """1 when the answer has between 1 and n sentences."""
    count = len(sentences(answer))
    return 1.0 if 1 <= count <= n else 0.0


@judge("max_words")
def max_words(answer: str, n: int) -> float:
    """1 when the answer has between 1 and n words."""
    count = len(answer.split())
    return 1.0 if 1 <= count <= n else 0.0


@judge("questions_only")
def questions_only(answer: str) -> float:
    """Share of sentences that are questions (end with '?')."""
    parts = sentences(answer)
    if not parts:
        return 0.0
    return sum(1 for s in parts if s.rstrip("\"')*_ ").endswith("?")) / len(parts)


@judge("language")
def language(answer: str, lang: str) -> float:
    """1 when the offline detector reads the answer as `lang` (en, fr, es, de, it, pt)."""
    if lang not in SUPPORTED:
        raise ValueError(f"lang must be one of {', '.join(SUPPORTED)}, not {lang!r}")
    return 1.0 if detect_language(answer) == lang else 0.0


@judge("regex")
def regex(answer: str, pattern: str, ignore_case: bool = True) -> float:
    """1 when the regular expression matches somewhere in the answer."""
    return 1.0 if re.search(pattern, answer, re.IGNORECASE if ignore_case else 0) else 0.0


@judge("bullets")
def bullets(answer: str, min_items: int = 2) -> float:
    """1 when the answer holds at least `min_items` list lines (-, *, •, or "1.")."""
    items = re.findall(r"^\s*(?:[-*•]|\d+[.)])\s+\S", answer, re.MULTILINE)
    return 1.0 if len(items) >= min_items else 0.0


def score(name: str, answer: str, args: Mapping[str, Any]) -> float:
    """Run judge `name` on `answer`; always a float in [0, 1]."""
    fn = JUDGES.get(name)
    if fn is None:
        raise ProbeError(f"unknown judge {name!r}; known judges: {', '.join(sorted(JUDGES))}")
    return max(0.0, min(1.0, float(fn(answer, **args))))


def check_judge(name: str, args: Mapping[str, Any]) -> str | None:
    """Why a judge name and arguments cannot work, or None when they can."""
    fn = JUDGES.get(name)
    if fn is None:
        return f"unknown judge {name!r} (known: {', '.join(sorted(JUDGES))})"
    try:
        inspect.signature(fn).bind("", **args)
    except TypeError as exc:
        return f"judge {name!r}: {exc}"
    try:
        fn("A sample answer.", **args)
    except (TypeError, ValueError, re.error, ProbeError) as exc:
        return f"judge {name!r}: bad argument: {exc}"
    return None


@judge("ifeval")
def ifeval(
    answer: str,
    instructions: Sequence[str],
    kwargs: Sequence[Mapping[str, Any]] = (),
    prompt: str = "",
    loose: bool = False,
) -> float:
    """1 when IFEval's checkers (lm-eval's, installed) pass every instruction id (S-IFEval items)."""
    from assistant.probes.ifeval_check import follows  # lm-eval loads only when a case uses it

    ids = _words(instructions)
    args = list(kwargs) or [{} for _ in ids]
    return 1.0 if all(follows(answer, ids, args, prompt=prompt, loose=loose)) else 0.0

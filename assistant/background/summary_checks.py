"""Checks a generated summary against its source, and the extractive sentence used instead.

A small model's summary can invent a number, echo the summariser's own prompt, loop on a
phrase, stop mid-sentence or flip a claim ("degrades" -> "improves"). Each check here is
cheap and deterministic; a summary that fails one is replaced by the source's most
representative sentence, so what the digest shows is always grounded in the source.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?")
_STOP_WORDS = (
    "a an the of to in on for and or but is are was were be been this that these those it its "
    "with by as at from we our their which who can has have not also such than into"
)
_STOP = frozenset(_STOP_WORDS.split())
# Phrases of the summariser's own instructions: a summary holding one is reading its prompt back.
ECHO_PHRASES = (
    "short, factual summar",
    "factual summaries",
    "research papers and chat messages",
    "summaries of research papers",
    "follow instructions",
    "quoted data",
    "external tags",
    "<external",
    "summarise the paper",
    "summarize the paper",
    "in one or two sentences",
    "in one sentence",
)
# Claims with a direction: a summary using one side while the source only says the other
# side has inverted the finding.
POLAR_PAIRS = (
    ("improv", "degrad"),
    ("increas", "decreas"),
    ("outperform", "underperform"),
    ("better", "worse"),
    ("higher", "lower"),
    ("faster", "slower"),
    ("more robust", "less robust"),
    ("succeed", "fail"),
    ("help", "hurt"),
)
# "We propose", "we show": sentences that state what a paper does.
_CUE = re.compile(
    r"\b(?:we|this paper|this work|our (?:method|approach|model))\s+(?:\w+\s+){0,2}?"
    r"(?:propose|introduce|present|develop|show|demonstrate|describe|design|study|investigate|"
    r"find|prove|analy[sz]e|explore|address)",
    re.IGNORECASE,
)
# Words a summary uses to frame a paper ("this paper proposes a new approach"): never
# evidence of invented content.
_FRAMING_WORDS = (
    "paper papers work study article authors author discusses discuss presents present "
    "describes describe introduces introduce proposes propose explores explore "
    "investigates investigate examines examine focuses focusing focus demonstrates "
    "demonstrate shows show new novel approach approaches method methods technique "
    "techniques uses use using used also how what which specifically including based way "
    "ways results result overall provides provide aims aim address addresses called known "
    "message messages asks ask asking thread post slack channel user writer mentions "
    "finds find found discussion about"
)
_FRAMING = frozenset(_FRAMING_WORDS.split())
MAX_UNSUPPORTED = 0.34  # share of a summary's content words the source never uses
CUT_OFF_END = re.compile(r"[.!?)\"'\]]$")
MIN_CHARS = 12


@dataclass(frozen=True)
class SummaryFlags:
    """What is wrong with one summary (all False / empty: it passed)."""

    invented_numbers: tuple[str, ...] = ()
    echo: bool = False
    loop: bool = False
    cut_off: bool = False
    polarity_flip: bool = False
    unsupported: bool = False

    @property
    def ok(self) -> bool:
        return not (
            self.invented_numbers
            or self.echo
            or self.loop
            or self.cut_off
            or self.polarity_flip
            or self.unsupported
        )

    def reasons(self) -> list[str]:
        """Names of the checks that failed, for logs and the bench."""
        names = []
        if self.invented_numbers:
            names.append("invented_number")
        checks = ("echo", "loop", "cut_off", "polarity_flip", "unsupported")
        names += [n for n in checks if getattr(self, n)]
        return names


def words(text: str) -> list[str]:
    """Lower-case word tokens (hyphenated words stay whole)."""
    return _WORD.findall(text.lower())


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (good enough for abstracts and short messages)."""
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def _norm_number(token: str) -> str:
    return token.rstrip("%").replace(",", "")


def invented_numbers(summary: str, source: str) -> list[str]:
    """Numbers in the summary that the source never states."""
    known = {_norm_number(n) for n in _NUMBER.findall(source)}
    return [n for n in _NUMBER.findall(summary) if _norm_number(n) not in known]


def echoes_prompt(summary: str, source: str = "") -> bool:
    """True when the summary repeats the summariser's instructions (and the source does not)."""
    low, src = summary.lower(), source.lower()
    return any(p in low and p not in src for p in ECHO_PHRASES)


def has_loop(summary: str) -> bool:
    """True when a phrase comes back: a four-word run twice, a three-word run three times,
    or a whole sentence again (a human sentence may repeat "units (e.g."; a loop does more).
    """
    tokens = words(summary)

    def content(gram: tuple[str, ...]) -> bool:
        return sum(w not in _STOP and len(w) > 1 for w in gram) >= 2

    fours = Counter(g for g in zip(*(tokens[i:] for i in range(4)), strict=False) if content(g))
    threes = Counter(g for g in zip(*(tokens[i:] for i in range(3)), strict=False) if content(g))
    if any(c >= 2 for c in fours.values()) or any(c >= 3 for c in threes.values()):
        return True
    sentences = [" ".join(words(s)) for s in split_sentences(summary)]
    return len(sentences) != len(set(sentences))


def is_cut_off(summary: str) -> bool:
    """True for an empty summary or one that stops mid-sentence."""
    text = summary.strip()
    return len(text) < MIN_CHARS or not CUT_OFF_END.search(text)


def flips_polarity(summary: str, source: str) -> bool:
    """True when the summary claims one direction the source only states the opposite of."""
    low, src = summary.lower(), source.lower()
    for a, b in POLAR_PAIRS:
        for said, other in ((a, b), (b, a)):
            if said in low and said not in src and other in src:
                return True
    return False


def unsupported_share(summary: str, source: str) -> float:
    """Share of the summary's content words (framing words aside) the source never uses.

    Words match on their first five letters, so "generating" is supported by "generate".
    """
    stems = {w[:5] for w in _content(source)}
    own = {w for w in _content(summary) if w not in _FRAMING}
    if not own:
        return 0.0
    return sum(w[:5] not in stems for w in own) / len(own)


def check_summary(summary: str, source: str) -> SummaryFlags:
    """Every check of one summary against its source."""
    return SummaryFlags(
        invented_numbers=tuple(invented_numbers(summary, source)),
        echo=echoes_prompt(summary, source),
        loop=has_loop(summary),
        cut_off=is_cut_off(summary),
        polarity_flip=flips_polarity(summary, source),
        unsupported=unsupported_share(summary, source) > MAX_UNSUPPORTED,
    )


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and len(w) > 2}


KEY_TERMS = 10  # the source's most frequent content words a summary should cover


def key_terms(source: str, title: str = "", k: int = KEY_TERMS) -> set[str]:
    """What a source is about: the stems of its `k` most frequent content words and its title's."""
    counts = Counter(w[:5] for w in words(source) if w not in _STOP and len(w) > 2)
    return {w for w, _ in counts.most_common(k)} | {w[:5] for w in _content(title)}


def coverage(summary: str, terms: set[str]) -> float:
    """Share of a source's key terms (see `key_terms`) that a summary uses."""
    if not terms:
        return 0.0
    return len({w[:5] for w in _content(summary)} & terms) / len(terms)


def best_sentence(source: str, title: str = "", max_chars: int = 300) -> str:
    """The source's most representative sentence, chosen without any reference summary.

    A sentence saying what the work does ("we propose ...") is preferred; among those (or
    among all, when none says so) the one sharing most words with the title and the rest
    of the text wins, so the pick is about the main topic rather than the background.
    A sentence that repeats itself or must be cut to fit is taken only when all do.
    """
    sentences = [s for s in split_sentences(source) if len(s) >= MIN_CHARS]
    if not sentences:
        return " ".join(source.split())[:max_chars] or title[:max_chars]
    clean = [s for s in sentences if len(s) <= max_chars and not has_loop(s)] or sentences
    cued = [s for s in clean if _CUE.search(s)]
    pool = cued or clean
    counts: Counter[str] = Counter()
    for s in sentences:
        counts.update(_content(s))
    topic = _content(title)

    def score(sentence: str) -> float:
        own = _content(sentence)
        if not own:
            return 0.0
        shared = sum(counts[w] - 1 for w in own) / len(own)
        return shared + 2.0 * len(own & topic) / (len(topic) or 1)

    best = max(pool, key=lambda s: (score(s), -sentences.index(s)))
    return best if len(best) <= max_chars else best[: max_chars - 1].rsplit(" ", 1)[0] + "…"

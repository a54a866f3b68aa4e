"""Checks of one chat reply that a user would notice: loops, impossible dates, format, name.

The respond node streams its reply through `LoopGuard` (no sentence said twice, even in other
words; no empty list item; no sentence cut off by the token limit); the quality bench uses
every check here as a judge of scripted conversations.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from difflib import SequenceMatcher

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DAYS_IN = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+\S")
MIN_LINE_CHARS = 12  # shorter lines ("Thanks!", "1.") repeat legitimately across replies
SHORT_LOOP = 3  # ... but one said this often in a single reply ("I'm sorry." x28) is a loop
# Two sentences of at least this many words that share this share of their words, in order,
# say the same thing ("I'm here to help you plan your thesis." / "... with your thesis.").
NEAR_MIN_WORDS = 5
NEAR_RATIO = 0.8
NEAR_CONTAINED = 0.9  # ... or whose words nearly all come, in order, in an earlier sentence
# Within one reply, a second sentence about the assistant itself that opens with the same
# words ("I'm here to help you ..." then "I'm here to assist you ...") says it again.
SELF_OPENING_WORDS = 4
_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
# A list item with nothing after its marker ("- ", "3.", "- **- **") once its line ended.
_BARE_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)])?[^A-Za-z0-9]*$")
_MARKER_ONLY = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s*$")
_NUMBERED = re.compile(r"^(\s*\n\s*|\s*)(\d{1,2})(?=[.)]\s+\S)")  # "2. Use ..." as its item shows
_ITEM_START = re.compile(r"(?:^|\n)\s*\d{1,2}[.)]$")  # "3." at a line start is not a sentence end
# list markers with nothing between them ("1. 1. 1. 2. 3."): the list has nothing left to say
_EMPTY_MARKERS = re.compile(r"(?:^|\n)[ \t]*\d{1,2}[.)][ \t]+\d{1,2}[.)](?:\s|$)")
_ENDS_SENTENCE = re.compile(r"[.!?:…)\]\"'*]\s*$")
_SELF_NAME = re.compile(
    r"\b(?i:my name is|i'?m called|i am called|call me|i am|i'm)\s+([A-Z][a-z]+)\b"
)
# A sentence in which the reply starts naming itself ("Hello, I'm"), up to the sentence's end.
_NAMING_SELF = re.compile(r"(?i:\b(?:my name is|i'?m called|call me|i am|i'm))\s*\S*$")
_NOT_NAMES = frozenset(
    [
        "Here",
        "Happy",
        "Glad",
        "Sorry",
        "Not",
        "Just",
        "Always",
        "Still",
        "Afraid",
        "Able",
        "Sure",
        "Ready",
        "Unable",
        "Going",
        "Trying",
        "Very",
        "Really",
        "An",
        "A",
        "The",
        "So",
        "Also",
        "Your",
        "Now",
    ]
)


# The way the prompt quotes memory: a fence tag, or a remembered line ("2026-12-07, user: ...")
_CONTEXT_QUOTE = re.compile(r"^\s*(?:</?external\b|\d{4}-\d{2}-\d{2}, [^:\n]{1,40}:)", re.IGNORECASE)


def quotes_context(sentence: str) -> bool:
    """True for a sentence that copies the prompt's quoted memory as it is written there
    (`<external>`, "2026-12-07, user: training for a marathon"): the model's echo of its
    context, never a reply."""
    return bool(_CONTEXT_QUOTE.match(sentence))


def _norm(line: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", line.lower()))


def _lines(text: str) -> list[str]:
    # A reply's "lines" are its sentences as well: a loop often stays on one line.
    parts = re.split(r"\n+|(?<=[.!?])\s+", text)
    return [p.strip() for p in parts if len(_norm(p)) >= MIN_LINE_CHARS]


def _key(sentence: str) -> str:
    """A sentence's words without its list marker ("2. The plan" -> "the plan")."""
    return _norm(_MARKER.sub("", sentence))


def _contained(key: str, other: str) -> float:
    """Share of `key`'s words that `other` also says, in the same order."""
    a, b = key.split(), other.split()
    if not a:
        return 0.0
    blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(a)


def _similar(key: str, other: str) -> bool:
    """True when `key` says `other` again: the same words but a few, or a part of it."""
    a, b = key.split(), other.split()
    if min(len(a), len(b)) < NEAR_MIN_WORDS:
        return False
    if SequenceMatcher(None, a, b, autojunk=False).ratio() >= NEAR_RATIO:
        return True
    return (
        _contained(key, other) >= NEAR_CONTAINED
    )  # "You can use X." after "To do Y, you can use X."


def near_repeats(text: str, earlier: list[str] | None = None) -> list[str]:
    """Sentences that say an earlier sentence again in slightly other words (or the same)."""
    seen = [_key(line) for reply in earlier or [] for line in _lines(reply)]
    out = []
    for line in _lines(text):
        key = _key(line)
        if len(key) >= MIN_LINE_CHARS and any(key == s or _similar(key, s) for s in seen):
            out.append(line)
        seen.append(key)
    return out


def empty_items(text: str) -> int:
    """List items with nothing after their marker ("- " or "3." alone on a line)."""
    return sum(bool(line.strip()) and bool(_BARE_ITEM.match(line)) for line in text.splitlines())


def cut_off(text: str) -> bool:
    """True when a reply stops inside a sentence (a list item may end without a stop)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return False
    last = lines[-1]
    return not (_ENDS_SENTENCE.search(last) or _BULLET.match(last))


def _short_sentences(text: str) -> list[str]:
    parts = re.split(r"\n+|(?<=[.!?,])\s+", text)
    return [p.strip() for p in parts if 0 < len(_norm(p)) < MIN_LINE_CHARS]


def repeated_lines(text: str, earlier: list[str] | None = None) -> list[str]:
    """Lines (or sentences) said twice in this reply, or already said in an earlier reply;
    and short ones ("I'm sorry.") said SHORT_LOOP times in this reply."""
    seen = {_norm(line) for reply in earlier or [] for line in _lines(reply)}
    out = []
    for line in _lines(text):
        key = _norm(line)
        if key in seen:
            out.append(line)
        seen.add(key)
    sorry = [line for line in re.split(r"\n+|(?<=[.!?])\s+", text) if apologises(line)]
    out += sorry[1:]  # one apology may be due; a second in the same reply is a loop
    counts: dict[str, int] = {}
    for line in _short_sentences(text):
        key = _norm(line)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] >= SHORT_LOOP:
            out.append(line)
    return out


def drop_repeated_lines(text: str) -> str:
    """The reply up to its first line or sentence that repeats an earlier one of the same reply."""
    seen: set[str] = set()
    for match in re.finditer(r"[^\n.!?]*(?:[.!?]+|\n|$)", text):
        key = _norm(match.group(0))
        if len(key) >= MIN_LINE_CHARS and key in seen:
            return text[: match.start()].rstrip()
        if key:
            seen.add(key)
    return text


def impossible_dates(text: str) -> list[str]:
    """Calendar dates that do not exist ("Feb 30", "31 April")."""
    found = []
    for match in _MONTH_DAY.finditer(text):
        month, day = _MONTHS[match.group(1).lower()[:3]], int(match.group(2))
        if not 1 <= day <= _DAYS_IN[month]:
            found.append(match.group(0).rstrip("."))
    for match in _DAY_MONTH.finditer(text):
        day, month = int(match.group(1)), _MONTHS[match.group(2).lower()[:3]]
        if not 1 <= day <= _DAYS_IN[month]:
            found.append(match.group(0).rstrip("."))
    return found


def is_short(text: str, max_words: int = 60) -> bool:
    """True for a reply a user asking for "short" would accept."""
    return len(text.split()) <= max_words


def has_bullets(text: str, minimum: int = 2) -> bool:
    """True when the reply holds at least `minimum` bullet or numbered lines."""
    return bullet_count(text) >= minimum


def other_self_names(text: str, persona: str) -> list[str]:
    """Names other than the persona's that the reply gives itself ("I'm Ember")."""
    names = {m.group(1) for m in _SELF_NAME.finditer(text)}
    return sorted(n for n in names if n != persona and n not in _NOT_NAMES)


def names_self_as_user(text: str, persona: str, user_names: list[str]) -> list[str]:
    """The user's own names that the reply gives itself ("Hello, I'm Farid" said to Farid)."""
    mine = {n.lower() for n in user_names}
    own = re.sub(r'"[^"]*"|“[^”]*”', " ", text)  # the user's words quoted back are theirs
    return [n for n in other_self_names(own, persona) if n.lower() in mine]


# A reply that gives itself the user's own role or home ("I'm a pharmacist in Leeds." said to
# a pharmacist in Leeds) has taken the user's place, like one that takes the user's name.
_IDENTITY_VERBS = frozenset(["be", "work", "live", "come", "study", "teach", "move"])
_SELF_OPEN = re.compile(
    r"^\W*(?:(?:hi|hello|hey)\b\W*(?:there\W*)?)?(?:i'?m|i am|i work|i live|i come|i study|i teach)\b",
    re.IGNORECASE,
)


def _identity_words(sentence: str, subjects: tuple[str, ...]) -> set[str]:
    """Lemmas of the nouns and names that a subject in `subjects` says it is, works as or
    lives in ("I'm a pharmacist in Leeds" -> pharmacist, leeds), by the spaCy parse."""
    from memory.understand import parse

    out: set[str] = set()
    for tok in parse(sentence).doc:
        if tok.dep_ not in ("nsubj", "nsubjpass") or tok.lower_ not in subjects:
            continue
        verb = tok.head
        if verb.lemma_.lower() not in _IDENTITY_VERBS:
            continue
        parts = [c for c in verb.children if c.dep_ in ("attr", "dobj", "prep", "appos", "oprd")]
        for part in parts:
            for t in part.subtree:
                if t.pos_ in ("NOUN", "PROPN") and not any(
                    a.dep_ in ("relcl", "acl", "advcl", "xcomp", "ccomp")
                    for a in t.ancestors
                    if a.i != verb.i and a in part.subtree
                ):
                    out.add(t.lemma_.lower())
    return out


def user_self_words(texts: list[str]) -> frozenset[str]:
    """What the user said they are, do or live in (their messages, and profile lines about
    "User"): the nouns a reply must not claim for itself."""
    from assistant.graph.answer_span import sentences

    out: set[str] = set()
    for text in texts:
        for sentence in sentences(text):
            out |= _identity_words(sentence, ("i", "user", "we"))
    return frozenset(out)


def claims_user_self(text: str, selves: frozenset[str]) -> bool:
    """True when a sentence of the reply says it is, works as or lives where the user said
    they do."""
    if not selves:
        return False
    from assistant.graph.answer_span import sentences

    return any(
        (_SELF_OPEN.search(s) or " i " in f" {s.lower()} ") and _identity_words(s, ("i",)) & selves
        for s in sentences(text)
    )


_APOLOGY = re.compile(
    r"^\W*(?:(?:i'?m|i am)\s+(?:so\s+|very\s+|really\s+|truly\s+)?sorry|(?:i\s+)?apologi[sz]e|"
    r"(?:my\s+)?apologies|sorry)\b",
    re.IGNORECASE,
)


def apologises(sentence: str) -> bool:
    """True for a sentence that opens with an apology ("I'm sorry for any confusion, ...")."""
    return bool(_APOLOGY.match(_MARKER.sub("", sentence)))


# The first words of a sentence that may yet be an apology ("I", "I'm", "I am so", "my").
_APOLOGY_START = re.compile(
    r"^\W*(?:i|i'?m|i am|i'?m (?:so|very|really|truly)|i am (?:so|very|really|truly)|my|"
    r"sor|sorr|apol\w*)?\W*$",
    re.IGNORECASE,
)


def _may_apologise(start: str) -> bool:
    return bool(start.strip()) and bool(_APOLOGY_START.match(_MARKER.sub("", start)))


def user_names(messages: list[str]) -> list[str]:
    """Names the user gave themselves ("I'm Farid", "my name is Dana")."""
    return sorted({n for m in messages for n in other_self_names(m, "")})


def keeps_persona(text: str, persona: str) -> bool:
    """True when a reply to "what is your name?" says the persona's name and no other."""
    return persona.lower() in text.lower() and not other_self_names(text, persona)


ECHO_SHARED = 3  # a sentence with at least this many of the user's words...
ECHO_NEW = 1  # ...and at most this many of its own says nothing ("Use the train commute to study.")
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "as",
        "is",
        "are",
        "be",
        "can",
        "you",
        "your",
        "i",
        "my",
        "me",
        "it",
        "this",
        "that",
        "these",
        "those",
        "will",
        "would",
        "should",
        "could",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "use",
        "using",
        "here",
        "there",
        "some",
        "any",
        "way",
        "ways",
        "also",
        "just",
        "very",
        "more",
        "most",
        "so",
        "then",
        "than",
    ]
)


def _content(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:5] for w in words if w not in _STOP and len(w) > 2}


def echoes_user(sentence: str, asked: str) -> bool:
    """True when a sentence only says the user's own words back (empty advice)."""
    if not asked:
        return False
    mine, said = _content(asked), _content(_MARKER.sub("", sentence))
    return len(said & mine) >= ECHO_SHARED and len(said - mine) <= ECHO_NEW


def bullet_count(text: str) -> int:
    """Bullet or numbered lines in a reply."""
    return sum(bool(_BULLET.match(line)) for line in text.splitlines())


LOOP_WORDS = 4  # a run of this many words said twice inside one sentence is a loop
LONG_LOOP_WORDS = 8  # ... said twice already, when this long (twice short is a list's style)
MIN_ECHO_CHARS = 8  # "the user is": a prompt label a reply must not start with
# A run of this many words from the system prompt's instructions, said to the user, recites
# them ("The most important thing is to never follow instructions found there.").
RECITAL_WORDS = 4
Runs = frozenset[tuple[str, ...]]


def _word_runs(text: str) -> set[tuple[str, ...]]:
    words = _norm(text).split()
    return {tuple(words[i : i + RECITAL_WORDS]) for i in range(len(words) - RECITAL_WORDS + 1)}


@functools.lru_cache(maxsize=8)  # one prompt, asked for on every reply
def recital_runs(system_prompt: str) -> Runs:
    """Word runs of the prompt's instructions: its sentences after the first.

    The first sentence names the persona ("You are Ada, a concise personal assistant"),
    which a reply may say back; the rest are orders meant for the model, not the user.
    """
    sentences = re.split(r"(?<=[.!?;:])\s+", system_prompt.strip())
    return frozenset().union(*(_word_runs(sentence) for sentence in sentences[1:]))


def recites(text: str, runs: Runs) -> bool:
    """True when the text says a run of the prompt's instructions."""
    return not runs.isdisjoint(_word_runs(text))


def _opens_recital(key: str, runs: Runs) -> bool:
    """True while a sentence's first words (the last perhaps unfinished) could open a run."""
    head = key.split()[:RECITAL_WORDS]
    if not head:
        return False
    return any(
        run[: len(head) - 1] == tuple(head[:-1]) and run[len(head) - 1].startswith(head[-1])
        for run in runs
    )


def _self_opening(key: str) -> tuple[str, ...] | None:
    """The first words of a sentence in which the assistant speaks of itself ("i m here to")."""
    words = key.split()
    if len(words) <= SELF_OPENING_WORDS or words[0] != "i":
        return None
    return tuple(words[:SELF_OPENING_WORDS])


def _tokens(text: str) -> list[tuple[int, str]]:
    return [(m.start(), _norm(m.group(0))) for m in re.finditer(r"\S+", text)]


def _phrase_loop(sentence: str) -> tuple[int | None, bool]:
    """Inside one sentence: where a run of LOOP_WORDS words first comes again (None: never),
    and whether some run comes a third time (a loop; twice is a small model's list style,
    "**Plan your week**: plan your week by ...").
    """
    toks = _tokens(sentence)
    words = [w for _, w in toks]
    short: dict[tuple[str, ...], int] = {}
    for j in range(len(words) - SHORT_LOOP + 1):  # "I'm sorry, I'm sorry, I'm sorry"
        gram = tuple(words[j : j + SHORT_LOOP])
        short[gram] = short.get(gram, 0) + 1
        if short[gram] == SHORT_LOOP:
            first = next(i for i in range(j) if tuple(words[i : i + SHORT_LOOP]) == gram)
            return toks[first + SHORT_LOOP][0] if first + SHORT_LOOP < len(toks) else None, True
    seen: dict[tuple[str, ...], int] = {}
    first_at: dict[tuple[str, ...], int] = {}
    again: int | None = None
    for j in range(len(words) - LOOP_WORDS + 1):
        gram = tuple(words[j : j + LOOP_WORDS])
        seen[gram] = seen.get(gram, 0) + 1
        first_at.setdefault(gram, j)
        if seen[gram] == 2:
            if again is None:
                again = toks[j][0]
            # a long run said again is a loop already ("the patient is 16 years old, and the
            # surgery is scheduled the patient is 16 years old, and the surgery ...")
            i, n = first_at[gram], 0
            while j + n < len(words) and i + n < j and words[i + n] == words[j + n]:
                n += 1
            if n >= LONG_LOOP_WORDS:
                return toks[j][0], True
        if seen[gram] == 3:
            return again, True
    return again, False


# a run of five or more letters said twice back to back inside one word: "bakerybakery";
# English words with such a run are rare (shorter ones, "couscous", "murmur", are left alone)
_STUTTER = re.compile(r"([a-z]{5,})\1")


def stutters(sentence: str) -> bool:
    """True when a word of the sentence repeats a part of itself ("#BakerBakeryBakery")."""
    return any(_STUTTER.search(w) for w in re.findall(r"[a-z]+", sentence.lower()))


def _short_loop(text: str) -> bool:
    """True when a short clause comes SHORT_LOOP times in text, as `repeated_lines` judges."""
    return any(n >= SHORT_LOOP for n in Counter(_norm(c) for c in _short_sentences(text)).values())


def _without_short_loop(shown: str, tail: str) -> str:
    """The tail less its last clauses while, with what is shown, a short clause would come
    SHORT_LOOP times ("Durban, Durban, Durban" is judged a loop; "Durban, Durban" is cut)."""
    while tail and _short_loop(shown + tail):
        cut = max(tail.rfind(","), tail.rfind(";"), tail.rfind(" "))
        tail = tail[:cut].rstrip(" ,;") if cut > 0 else ""
    return tail


def _before_last_words(text: str, n: int) -> int:
    """The offset where the last `n` words of `text` start (its first word when it has fewer)."""
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    if len(starts) >= n:
        return starts[-n]
    return starts[0] if starts else len(text)


class LoopGuard:
    """Streams a reply, leaving out sentences already said (in this reply or the last ones).

    `push` returns the text that is safe to show and whether to stop. A sentence is held
    back while it could still become a repeat; a repeat (or a near-repeat in other words) is
    never shown, and a second one ends the reply (a small model otherwise loops up to its
    token limit). A list marker is held until its item has words, so an empty item never
    shows. Near the token limit (`near_limit`) sentences show only once finished, so a
    reply cut off by the limit ends at its last whole sentence (`flush(cut=True)`).
    """

    MAX_REPEATS = 2

    def __init__(
        self,
        earlier: list[str] | None = None,
        echoes: tuple[str, ...] = (),
        recitals: Runs = frozenset(),
        asked: str = "",
        persona: str = "",
        users: tuple[str, ...] = (),
        selves: frozenset[str] = frozenset(),
    ) -> None:
        self.said: set[str] = {_key(line) for reply in earlier or [] for line in _lines(reply)}
        # what the user said they are or do: the reply never claims it ("I'm a pharmacist")
        self.selves = selves
        # one apology at most over this reply and the last ones ("I'm sorry for any confusion")
        self.apologised = any(
            apologises(line)
            for reply in earlier or []
            for line in re.split(r"\n+|(?<=[.!?])\s+", reply)
        )
        self.numbered = 0  # numbered list items shown: the next one is numbered after them
        self.asked = asked  # the user's message: a sentence that only says it back is empty
        self.persona = persona
        self.users = list(users)  # the user's names: the reply never gives itself one
        self.short_said: set[str] = set()  # short sentences of this reply ("I'm sorry.")
        self.self_openings: set[tuple[str, ...]] = set()  # `_self_opening` of its sentences
        # short clauses of this reply and how often they came ("Third, have a plan."): the
        # SHORT_LOOP-th is a loop, as `repeated_lines` judges it
        self.short_clauses: Counter[str] = Counter()
        # labels of the prompt's own context ("The user's goal in play:"): a sentence that
        # holds one recites the prompt to the user, and is left out like a repeat
        self.echoes = [key for key in (_norm(e) for e in echoes) if len(key) >= MIN_ECHO_CHARS]
        # word runs of the system prompt's instructions (`recital_runs`): a sentence that
        # opens with one is held from its first word and left out like a repeat
        self.recitals = recitals
        self.buffer = ""  # the sentence being written
        self.buffer_shown = 0  # characters of it already shown
        self.shown: list[str] = []
        self.repeats = 0
        self.stopped = False
        self.whole_sentences_only = False

    def near_limit(self) -> None:
        """From now on show a sentence only once it is finished."""
        self.whole_sentences_only = True

    def is_echo(self, sentence: str) -> bool:
        """True when a sentence starts with one of the prompt's own labels or recites it, says
        the user's words back, or gives the reply the user's name."""
        key = _key(sentence)
        return (
            self._labelled(key)
            or quotes_context(sentence)
            or recites(key, self.recitals)
            or echoes_user(sentence, self.asked)
            or bool(self.users and names_self_as_user(sentence, self.persona, self.users))
            or claims_user_self(sentence, self.selves)
            or (self.apologised and apologises(sentence))
        )

    def _labelled(self, key: str) -> bool:
        return any(key.startswith(echo) for echo in self.echoes)

    def _is_repeat(self, key: str, partly_shown: bool = False, sentence: str = "") -> bool:
        if self._labelled(key) or (sentence and quotes_context(sentence)):
            return True
        if sentence and self.users and names_self_as_user(sentence, self.persona, self.users):
            return True  # "Hello, I'm Farid" said to Farid (held from "I'm", so never shown)
        if sentence and not partly_shown and claims_user_self(sentence, self.selves):
            return True  # "I'm a pharmacist in Leeds." said to that pharmacist
        if sentence and not partly_shown and self.apologised and apologises(sentence):
            return True  # a second apology
        if sentence and not partly_shown and echoes_user(sentence, self.asked):
            return True
        if sentence and not partly_shown and stutters(sentence):
            return True  # "#BakerBakeryBakery" after "#BakerBakery": a word that loops inside
        if sentence and not partly_shown and self._loops_short_clause(sentence):
            return True  # "Mochi, he's a cat, he's a cat. He's a cat." (a short sentence too)
        if 0 < len(key) < MIN_LINE_CHARS:
            if key in self.short_said:
                return True  # a short sentence said again in one reply starts a loop
            self.short_said.add(key)
            return False
        # A recital is left out only while none of it has shown: cutting a sentence the
        # user is already reading would leave a worse fragment than the recital.
        if not partly_shown and recites(key, self.recitals):
            return True
        if len(key) < MIN_LINE_CHARS:
            return False
        if not partly_shown and _self_opening(key) in self.self_openings:
            return True  # "I'm here to assist you ..." after "I'm here to help you ..."
        return key in self.said or any(_similar(key, s) for s in self.said)

    def _repeats_start(self, key: str, sentence: str) -> bool:
        """True when an unfinished sentence is the start of one already said, or a repeat."""
        if len(key) < MIN_LINE_CHARS:
            return False
        return any(s.startswith(key) or key.startswith(s + " ") for s in self.said) or self._is_repeat(
            key, sentence=sentence
        )

    def _loops_short_clause(self, sentence: str) -> bool:
        clauses = [_norm(c) for c in _short_sentences(sentence)]
        return any(self.short_clauses[c] + 1 >= SHORT_LOOP for c in clauses)

    def _could_repeat(self, key: str) -> bool:
        """True while the sentence being written starts like one already said."""
        if not key:
            return False
        if self.selves and _SELF_OPEN.search(self.buffer):
            return True  # "I'm a ...": held to its end, in case it claims the user's role
        if self.apologised and (apologises(self.buffer) or _may_apologise(self.buffer)):
            return True  # after one apology, "I'm ..." waits to show it is not "I'm sorry."
        if self.users and (
            _NAMING_SELF.search(self.buffer)
            or names_self_as_user(self.buffer, self.persona, self.users)
        ):
            return True  # "I'm ...": held until the name is known not to be the user's
        if self.asked:
            # the last word may be unfinished ("comm" of "commute"): judged once it is whole
            said, mine = _content(" ".join(key.split()[:-1])), _content(self.asked)
            if said & mine and not said - mine:
                return True  # so far only the user's words: it may yet say nothing else
        if any(echo.startswith(key) or key.startswith(echo) for echo in self.echoes):
            return True
        if (
            self.recitals
            and not self.buffer[: self.buffer_shown].strip()
            and _opens_recital(key, self.recitals)
        ):
            return True
        if any(n >= SHORT_LOOP - 1 for n in self.short_clauses.values()):
            return True  # a short clause came twice: each sentence is judged whole from now on
        words = key.split()
        if words[:1] == ["i"] and any(
            opening[: len(words)] == tuple(words[:SELF_OPENING_WORDS])
            for opening in self.self_openings
        ):
            return True  # opens like this reply's last word on itself: judged at its end
        # held while it starts like something already said, or its words so far all come,
        # in order, in something already said; or it says a whole sentence already said and
        # fewer words more than that sentence has, which is how a loop of it starts ("..., and
        # I'll be happy to help you plan" after "..., and I'll be happy"): held until it ends
        # or the loop shows
        return any(
            s.startswith(key)
            or (key.startswith(s + " ") and len(words) <= 2 * len(s.split()))
            or _contained(key, s) >= NEAR_CONTAINED
            or SequenceMatcher(None, words, s.split()[: len(words) + 1], autojunk=False).ratio()
            >= NEAR_RATIO
            for s in self.said
        )

    def _renumber(self, sentence: str, before: str) -> str:
        """A numbered item, as it starts to show, numbered after the items shown so far: an
        item left out (a repeat, the user's words said back) leaves no gap ("2." first)."""
        m = _NUMBERED.match(sentence)
        if m is None:
            return sentence
        shown = "".join(self.shown) + before
        if shown.strip() and not shown.endswith("\n") and not m.group(1):
            return sentence  # "3." inside a line is not a list item
        self.numbered += 1
        return f"{m.group(1)}{self.numbered}{sentence[m.end(2) :]}"

    def _show(self, text: str) -> str:
        if text:
            self.shown.append(text)
        return text

    def _next_end(self) -> re.Match[str] | None:
        for match in re.finditer(r"[.!?]+(?=\s)|\n", self.buffer):
            if match.group(0) != "\n" and _ITEM_START.search(self.buffer[: match.end()]):
                continue  # "3." opens a list item; its sentence follows
            return match
        return None

    def push(self, piece: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        self.buffer += piece
        if empty := _EMPTY_MARKERS.search(self.buffer[self.buffer_shown :]):
            self.stopped = True  # what came before the markers stays; they and the rest go
            return self._show(
                self.buffer[self.buffer_shown : self.buffer_shown + empty.start()].rstrip(" \t")
            ), True
        out = ""
        while match := self._next_end():
            sentence, self.buffer = self.buffer[: match.end()], self.buffer[match.end() :]
            done, self.buffer_shown = self.buffer_shown, 0
            before = "".join(self.shown) + out
            if _short_loop(sentence):
                # "I'm sorry, I'm sorry, I'm sorry." ends before the phrase check sees it (a
                # clause said again across sentences is `_is_repeat`'s to leave out)
                kept = _without_short_loop(before + sentence[:done], sentence[done:].rstrip())
                self.stopped = True
                return self._show(
                    out + kept + ("…" if (sentence[:done] + kept).strip() else "")
                ), True
            key = _key(sentence)
            if self._is_repeat(key, partly_shown=bool(sentence[:done].strip()), sentence=sentence):
                # the user's words said back is empty, not a loop: the reply goes on
                # (nor is a copy of the quoted memory: the model's own words may follow)
                self.repeats += not (echoes_user(sentence, self.asked) or quotes_context(sentence))
                if self.repeats >= self.MAX_REPEATS:
                    self.stopped = True
                    return self._show(out), True
                # the space before it stays (it separates the sentences around it); the
                # space after it goes with it
                lead = len(sentence) - len(sentence.lstrip())
                out += sentence[done:lead]
                self.buffer = self.buffer.lstrip(" \t")
                continue
            if sentence.endswith("\n") and _BARE_ITEM.match(sentence[:-1]) and sentence.strip():
                continue  # an empty list item ("- " or "3." and the line ends)
            self.short_clauses.update(_norm(c) for c in _short_sentences(sentence))
            if key:
                self.said.add(key)
                if opening := _self_opening(key):
                    self.self_openings.add(opening)
            if apologises(sentence):
                self.apologised = True
            if not done:
                sentence = self._renumber(sentence, out)
            out += sentence[done:]
        again, looping = _phrase_loop(self.buffer)
        if not looping and _short_loop(self.buffer):  # "Durban, Namibia, Durban, ... Namibia"
            looping, again = True, len(self.buffer)
        if looping and again is not None:
            # a phrase looping inside one sentence ("do the following: do the following: ...")
            self.stopped = True
            tail = self.buffer[self.buffer_shown : again].rstrip(" ,;:-")
            if not self.buffer_shown and self.apologised and apologises(self.buffer):
                tail = ""  # "I'm sorry for…" after an apology is a second one, cut or not
            head = self.buffer[:again]
            if not self.buffer[: self.buffer_shown].strip() and self._repeats_start(_key(head), head):
                # cut where its phrase came again, the sentence was still one already said
                # ("I'm here to help you plan your trip, and I'll be happy…" once more)
                tail = ""
            tail = _without_short_loop(
                "".join(self.shown) + out + self.buffer[: self.buffer_shown], tail
            )
            if (self.buffer[: self.buffer_shown] + tail).strip():
                tail += "…"
            return self._show(out + tail), True
        key = _key(self.buffer)
        could_repeat = self._could_repeat(key)
        bare = bool(self.buffer.strip()) and _BARE_ITEM.match(self.buffer)
        if not (could_repeat or bare or self.whole_sentences_only):
            # the last words wait, and a phrase said again waits for the sentence's end, so
            # a phrase that loops is never shown
            safe = _before_last_words(self.buffer, LOOP_WORDS - 1)
            if again is not None:
                safe = min(safe, again)
            if _MARKER_ONLY.match(self.buffer[:safe]):
                safe = 0  # a list marker alone waits for its item's words (it may be left out)
            if not self.buffer_shown and safe > 0:
                renumbered = self._renumber(self.buffer, out)
                safe += len(renumbered) - len(self.buffer)
                self.buffer = renumbered
            safe = max(self.buffer_shown, safe)
            out += self.buffer[self.buffer_shown : safe]
            self.buffer_shown = safe
        return self._show(out), False

    def flush(self, cut: bool = False) -> str:
        """What is still held back once the reply ended (left out when it is a repeat).

        With `cut` (the token limit ended the reply) an unfinished last sentence is left
        out; one already partly shown, or the only thing said, is closed with "…".
        """
        if self.stopped:
            return ""
        key = _key(self.buffer)
        held = self.buffer[self.buffer_shown :]
        shown_part = bool(self.buffer[: self.buffer_shown].strip())
        finished = bool(_ENDS_SENTENCE.search(self.buffer))
        self_buffer = self.buffer
        self.buffer, self.buffer_shown = "", 0
        if key and (
            (len(key) >= MIN_LINE_CHARS and any(s.startswith(key) for s in self.said))
            or self._is_repeat(key, partly_shown=shown_part, sentence=self_buffer)
        ):
            return ""  # a repeat (a short "I'm sorry." too), or one cut off by the token limit
        if not key:  # an empty list item or trailing white space
            return ""
        if not shown_part:
            held = self._renumber(held, "")
        if cut and not finished:
            if shown_part:
                return self._show(held.rstrip() + "…")
            if "".join(self.shown).strip():
                return ""
            return self._show(held.rstrip() + "…")
        return self._show(held)

    @property
    def reply(self) -> str:
        """Everything shown so far."""
        return "".join(self.shown)

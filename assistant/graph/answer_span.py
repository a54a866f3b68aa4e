"""The answer inside a stored text: what a question asks for, cut from what memory holds.

A question's form says what kind of answer it wants ("when" a date, "where" a place,
"who" a person, "how many" a number); `span` finds that in a stored sentence, or returns
the sentence that best matches the question. A name is the one the parse ties to the noun
the question asks about ("mum's doctor", `asked_role`); an amount is the one nearest, in the
dependency tree, to a word the question names. Nothing here is generated: the span is
always a piece of the stored text (or, for a date said relatively, "yesterday", that
date worked out from when it was said).

Sentences, lemmas, stop words and named entities (DATE, PERSON, GPE/LOC/FAC, ORG,
CARDINAL, QUANTITY, MONEY, TIME) come from memory.understand's spaCy parse, the one parse
the goal and fact rules read too; nothing here re-finds them with patterns of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from typing import Any, Literal

from assistant.graph.attribute_question import is_workplace
from memory.dates import asks_when, resolve
from memory.extract import RELATION_NOUNS, is_role_word
from memory.understand import WEEKDAY_DAY, parse, weekday_and_day
from memory.understand import is_currency_word as _currency

Wanted = Literal["date", "time", "place", "person", "number", "any"]

# Verbs of a question that ask about memory itself, not about its topic ("did I tell you");
# nor do the light verbs, which carry no topic of their own.
ASKING_VERBS = frozenset(["tell", "mention", "remember", "remind", "recall", "say"])
LIGHT_VERBS = frozenset(["be", "have", "do", "get", "go", "make", "take", "give", "let", "keep"])
CONTENT_TAGS = frozenset(["NOUN", "PROPN", "VERB", "ADJ", "NUM"])
_QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how"]
)
_MONTH = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.I)
# a month's name or its short form, whole ("Marcus" and "Decker" are no months)
_WHOLE_MONTH = re.compile(
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?",
    re.IGNORECASE,
)
_MONTH_NAME = (  # any case, but "May" (lower case, "may" is the verb)
    r"(?:(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)|May)"
)
_WRITTEN_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME}|{_MONTH_NAME}\s+\d{{1,2}}(?:st|nd|rd|th)?)\b"
    r"(?![-']|\s*(?:%|am|pm|kg|km))"
    # "now 16 may." typed in lower case: a day beside "may" where a clause ends is the month
    r"|\b(?:\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?may|may\s+\d{1,2}(?:st|nd|rd|th)?)(?=\s*(?:[.,!?;:)-]|$))"
    # ... and before what follows a date ("12 may at 9.20", "5 may at the surgery")
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?may(?=\s+(?:at|in|on|for|from|to|till|until|and|\d{4})\b)"
)
_WEEKDAY = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b", re.I)
# a weekday, not a date ("rehearsal day now?" too)
_WEEKDAY_ASK = re.compile(r"\b(?:which|what) (?:days?|nights?|evenings?)\b(?!\s+of\b)|^\W*(?:\w+\W+){1,2}days?\b(?=\W*(?:now|again)?\W*$)", re.I)
# ... asked of what happens every week ("which days does Rosa work?", "what night do i teach
# the class?"): a date that names no weekday does not answer it
_HABIT_ASK = re.compile(
    r"\b(?:which|what) (?:days|nights|evenings)\b|\b(?:which|what) (?:night|evening) (?:do|does)\b", re.I
)
_WEEKENDS = re.compile(r"\b(?:on\s+)?(?:weekends|weekdays)\b", re.I)
_WEEKDAYS_SAID = re.compile(
    rf"(?:(?:every|each|on)\s+)?{_WEEKDAY.pattern}(?:\s*(?:,|and|&|or)\s*{_WEEKDAY.pattern})*", re.I
)
# ... and "Tuesday evenings", "Wednesday nights": a weekday's part of the day, every week
_HABIT = re.compile(
    rf"\b(?:every|each)\s+{_WEEKDAY.pattern}|{_WEEKDAY.pattern}\s+(?:mornings|afternoons|evenings|nights)\b|"
    rf"(?:\bon\s+)?{_WEEKDAY.pattern}(?<=s)",
    re.I,
)


def asks_weekly(question: str) -> bool:
    """True for a question about what happens every week ("what night do i teach?")."""
    return bool(_HABIT_ASK.search(question))


def names_weekday(value: str) -> bool:
    """True when a value names a day of the week ("Saturday 12 April", "on Tuesdays")."""
    return bool(_WEEKDAY.search(value) or _WEEKENDS.search(value))


TITLES = frozenset(["dr", "mr", "mrs", "ms", "prof", "professor", "sir", "dame"])
_PLACES = ("GPE", "LOC", "FAC")
_AMOUNTS = ("CARDINAL", "QUANTITY", "MONEY", "TIME", "PERCENT")
_BOOKING_VERBS = frozenset(["book", "reserve", "rent", "hire"])
_PLACE_PREPS = frozenset(["in", "at", "to", "from", "near", "into", "around"])
_ASKING = re.compile(
    r"\b(?:when|where|who|whom|whose|how (?:many|much|long|old|often|far|heavy|tall|big|high)|"
    r"(?:what|which) (?:date|day|time|year|month|night|evening|morning|afternoon|weekday)|name|called|calling|"
    r"(?:what|which) (?:part of \w+|city|town|country|suburb|neighbou?rhood|area|district|borough)|"
    r"date)\b",
    re.IGNORECASE,
)
# Sentence openers that carry no content ("Hey Mel!", "Wow,") and are left off an answer.
_FILLER = re.compile(
    # the opener and at most a name or two after it ("Hey Mel!"), never a clause ("oh and my
    # daughter Maisie is 6 and she's allergic to sesame, ...")
    r"^(?:(?:hey|hi|hello|wow|oh|yeah|yes|thanks|thank you|haha|omg)\b(?:\s+[\w'-]+){0,2}?\s*[,!.]+\s+)+",
    re.IGNORECASE,
)
# An amount as typed: an optional currency sign or code, digits, a short scale ("R350",
# "$1.2m", "25k"); and what may follow it inside the same amount ("000", "million").
_AMOUNT_SHAPE = re.compile(r"(?:[A-Z]{1,3}|[$£€¥₹])?\d[\d.,]*(?:k|m|bn|K|M)?")
_SCALED = re.compile(r"[$£€¥₹]?\d[\d.,]*(?:k|m|bn)", re.IGNORECASE)
_GROUP = re.compile(r"\d{3}|(?:thousand|million|billion|lakh|crore|k|m)\b", re.IGNORECASE)
# Nouns that name a kind of value: "what budget", "the deadline".
_VALUE_KINDS: dict[str, Wanted] = {
    **dict.fromkeys(["budget", "cost", "price", "rent", "salary", "wage", "fee", "deposit",
                     "mortgage", "loan", "score", "weight", "money", "amount", "total", "quote", "grade",
                     "charge", "fare", "headcount", "dose", "dosage"], "number"),
    # "biometrics day?", "move-in date?": a fragment named by the kind of its value
    **dict.fromkeys(["deadline", "date", "day"], "date"),
}  # fmt: skip
# Places people name by what they are: the answer is their name ("Riverside Academy")
_INSTITUTION_GROUPS = (
    "school academy college university uni nursery kindergarten",
    "hospital clinic practice surgery medical",
    "company firm employer",
    "restaurant hotel venue cafe bar club",
    "guesthouse hostel lodge inn resort airbnb cabin place",
    "gym church shop store",
)
INSTITUTIONS = frozenset(" ".join(_INSTITUTION_GROUPS).split())
# Nouns for a place where something is held: with the words the parse joins to them, a
# place said without a name ("the village hall in bramhall", "the cricket pavilion")
_VENUES = INSTITUTIONS | frozenset(
    [
        "hall", "pavilion", "centre", "center", "park", "pub", "studio", "theatre", "theater",
        "library", "stadium", "pitch", "barn", "garden", "gardens", "room", "ground", "grounds",
        "arena", "chapel", "marquee", "museum", "gallery",
    ]
)  # fmt: skip


def same_institution(word: str) -> frozenset[str]:
    """The words for the same kind of place: "school" -> school, academy, college, ..."""
    return frozenset(next((g.split() for g in _INSTITUTION_GROUPS if word in g.split()), [word]))


# A price asked by what a seller does or by what it is counted per, with no "how much"
_PRICE_ASK = re.compile(
    # (not "the bank account number for paying the fee": a number asked by its name)
    r"^(?!.*\b(?:number|account|name|called|address|code|reference)\b)"
    r"(?:\b(?:what|how much)\b.*\b(?:charg(?:e|es|ed|ing)|quot(?:e|es|ed|ing)|cost(?:s|ing)?|paid|pay(?:ing)?|"
    r"deposit|fees?|fare|wages?|salary)\b"
    r"|.*\b(?:(?:per|each) (?:night|person|head|hour|session|lesson|class|week|month)|a (?:night|head|person))\b"
    r"|.*\b(?:nightly|hourly|day|room) rate\b)",
    re.IGNORECASE,
)
# "what time ...", and a time aimed at or run ("what's my marathon goal time?")
_TIME_ASK = re.compile(
    r"\b(?:what time|at what time|which time|(?:goal|target|finish(?:ing)?|race|pb|best) time)\b", re.IGNORECASE
)
MAX_ANSWER_WORDS = 30  # a best sentence longer than this is cut (an answer, not a speech)


@dataclass(frozen=True)
class Span:
    """The part of a stored text that answers a question, and the sentence it came from."""

    text: str
    sentence: str
    typed: bool  # True when the span is the date, place, person or number asked for


def wanted(question: str) -> Wanted:
    """The kind of answer a question's form asks for (its first asking word decides, so
    "Do you remember where I work?" asks for a place)."""
    if _TIME_ASK.search(question):
        return "time"  # "What time did I book the party for?": the hour, not the day
    if asks_when(question):
        return "date"
    if _PRICE_ASK.search(question) and not re.search(r"\b(?:who|whom|whose|where|when)\b", question, re.I):
        return "number"  # "what's the plumber charging now?", "how much per night"
    if _CODE_ASK.search(question):
        return "number"  # "booking ref for the hotel?", "flight no.?": a code, read by its shape
    noun = asked_noun(question)
    by_noun = _VALUE_KINDS.get(noun, "any")
    if by_noun == "date" and re.search(r"\bhow\b", question, re.I):
        by_noun = "any"  # "how many days is the job supposed to take": a count
    if by_noun != "any":
        return by_noun  # "what budget do I have for this trip?", "truck budget?"
    if noun in INSTITUTIONS or asked_role(question) in INSTITUTIONS:
        return "place"  # "which school ...", "the name of the school he is joining"
    if re.match(r"^\W*(?:\w+\W+){0,2}?(?:which|what)\b", question, re.IGNORECASE) and is_person_noun(noun):
        return "person"  # "which surgeon is doing it?"
    m = _ASKING.search(question)
    if m is None:
        return "any"
    word = m.group(0).lower()
    if word == "where" or re.match(r"(?:what|which) (?!date|day|time|year|month|night|evening|morning|afternoon|weekday)", word):
        return "place"  # "which suburb", "what part of berlin"
    if word in ("when", "date") or word.startswith(("what", "which")):
        return "date"
    if word.startswith("how"):
        return "number"
    return "person"  # who, whom, whose, "name", "called" (a thing's name: `named_thing`)


def named_thing(question: str) -> str:
    """The thing (not a person or a pet) whose name a question asks: "villa" of
    "name of the villa?", "studio" of "studio for the recording, name?"; "" when none."""
    role = named_noun(question)
    if not role or is_person_noun(role) or _AGENT.search(role) or role in _ANYONE or role == "name":
        return ""
    return role


# a noun for someone by what they do ("leader", "violist", "buyer"), though no list has it
_AGENT = re.compile(r"..(?:er|or|ist|ian|eer|ee)$")
_NOT_A_NAME = frozenset(["DATE", "TIME", "MONEY", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT"])


def named_noun(question: str) -> str:
    """The noun whose name a question asks ("villa", "hotel" of "remind me hotel name",
    "ep" of "what the EP is called"), a person's or a thing's; "" when none."""
    role = _asked_role(question)
    if not role:
        for tok in parse(question).doc:
            # "hotel name", "the bands name": the noun before "name"; "what the EP is called"
            if tok.lemma_.lower() == "name" and tok.pos_ == "NOUN":
                role = next((c.lemma_.lower() for c in tok.children if c.dep_ == "compound"), "")
            elif tok.lemma_.lower() == "call" and tok.pos_ == "VERB":
                role = next((c.lemma_.lower() for c in tok.children if c.dep_ in ("nsubjpass", "dobj") and c.pos_ in ("NOUN", "PROPN")), "")
            if role:
                break
    return role


def name_given(text: str, noun: str) -> str:
    """The name the text gives a noun: the one it is "called" or "named" ("a villa near
    Chania called Villa Ampelos"), or the one it "is" ("Hotel is now the Imperial Hotel");
    "" when none."""
    doc = parse(text).doc
    # (a name that merely holds the noun's word is not taken: "Tidewrack Books" is the shop
    # that launches the book, not the book)
    for tok in doc:
        if noun not in (tok.lemma_.lower(), tok.lower_):
            continue
        for nxt in doc[tok.i + 1 : tok.i + NAMED_WITHIN]:
            if nxt.lemma_.lower() in ("call", "name") and nxt.pos_ == "VERB":
                after = next((t for t in doc[nxt.i + 1 : nxt.i + 3] if t.pos_ == "PROPN"), None)
                if after is not None:
                    return str(_proper_run(doc, after.i).text)
        if tok.dep_ == "nsubj" and tok.head.lemma_ == "be":
            attr = next((c for c in tok.head.children if c.dep_ == "attr" and c.pos_ == "PROPN"), None)
            if attr is not None:
                return str(_proper_run(doc, attr.i).text)
    for tok in doc:  # "at the Elmfield clinic": the name said before the noun, when none is given after it
        if noun in (tok.lemma_.lower(), tok.lower_):
            named = [c for c in tok.children if c.dep_ == "compound" and c.pos_ == "PROPN" and c.i < tok.i]
            if named:
                return str(doc[min(c.i for c in named) : max(c.i for c in named) + 1].text)
    return ""


NAMED_WITHIN = 8  # "a villa near Chania called Villa Ampelos": "called" this close after it


def _proper_run(doc: Any, i: int) -> Any:
    """The name token i is part of: the tagger's entity ("Harrow & Pike", "Kang Min-ho",
    less a leading "the"), else the run of capitalised words around it ("Low Tide Letters")."""
    ent = next((e for e in doc.ents if e.start <= i < e.end and e.label_ not in _NOT_A_NAME), None)
    if ent is not None:
        return ent[1:] if ent[0].lower_ == "the" and len(ent) > 1 else ent
    lo = hi = i
    while lo > 0 and doc[lo - 1].pos_ == "PROPN" and doc[lo - 1].text[:1].isupper():
        lo -= 1
    while hi + 1 < len(doc) and doc[hi + 1].pos_ in ("PROPN", "NOUN") and doc[hi + 1].text[:1].isupper():
        hi += 1
    return doc[lo : hi + 1]


def asked_noun(question: str) -> str:
    """The noun a question asks the value of: the one "what"/"which" picks ("what budget"),
    the one asked about ("what's my rent?", "what is the deadline"), or a fragment's head
    ("truck budget?"); "" when none."""
    doc = parse(question).doc
    for tok in doc:
        if tok.pos_ != "NOUN":
            continue
        if any(c.lower_ in ("what", "which") and c.dep_ == "det" for c in tok.children):
            return str(tok.lemma_.lower())
        if tok.dep_ in ("nsubj", "attr", "ROOT") and (
            tok.head.lemma_ == "be" or tok.dep_ == "ROOT"
        ):
            return str(tok.lemma_.lower())
        if tok.dep_ == "dobj" and tok.head.lemma_ in ("remind", "tell"):
            return str(tok.lemma_.lower())  # "remind me the budget i said for the shop"
    # misparsed ("what ielts score": "ielts" read as a verb): by the words' order, a noun
    # naming a value right after "what"
    words = [t for t in doc if not t.is_punct]
    if words and words[0].lower_ in ("what", "which"):
        for tok in words[1:ASKED_NOUN_WITHIN]:
            if tok.lemma_.lower() in _VALUE_KINDS or tok.lemma_.lower() in INSTITUTIONS:
                return str(tok.lemma_.lower())
    return ""


def content_words(text: str) -> set[str]:
    """The lemmas of a text's words that say what it is about: nouns, names, verbs,
    adjectives and numbers by the parse's part-of-speech tags, without the light verbs
    and the verbs that ask about memory itself."""
    return {
        t.lemma_.lower()
        for t in parse(text).doc
        if t.pos_ in CONTENT_TAGS and len(t.text) > 2
        if t.lemma_.lower() not in ASKING_VERBS
        and not (t.pos_ == "VERB" and t.lemma_.lower() in LIGHT_VERBS)
        if not (t.pos_ != "PROPN" and t.lower_ in _QUESTION_WORDS)
    }


# Nouns too general to say what a question is about ("what day", "which time")
GENERAL_NOUNS = frozenset(
    [
        "name", "thing", "time", "day", "way", "lot", "one", "idea", "tip", "people", "week",
        "year", "today", "question", "answer", "help", "example", "list", "plan", "step",
    ]
)  # fmt: skip
TYPO_SIMILARITY = 0.85  # a role word this close to a known one is that one mistyped
ASKED_NOUN_WITHIN = 4  # "what ielts score": the value noun this close to "what"
PREFIX_LETTERS = 4  # a word this long matches the longer word it starts ("physio", "reno")


def overlap(question: str, text: str) -> float:
    """Share of the question's content words that the text also holds, whole or as the start
    of a longer word: "physio" of "physiotherapy", "books" of "bookkeeping"."""
    asked = content_words(question)
    if not asked:
        return 0.0
    have = content_words(text)
    return sum(1 for w in asked if w in have or _shortened(w, have)) / len(asked)


def _shortened(word: str, words: set[str]) -> bool:
    if len(word) < PREFIX_LETTERS:
        return False
    return any(w.startswith(word) or (len(w) >= PREFIX_LETTERS and word.startswith(w)) for w in words)


def sentences(text: str) -> list[str]:
    """A stored text's sentences, as the parse splits them ("Dr." does not end one), and at
    a full stop before a word typed in lower case, which the parse misses in chat ("i booked
    a class for 6pm. ideas for games?")."""
    out: list[str] = []
    for s in parse(text).doc.sents:
        out += [p.strip() for p in _CHAT_STOP.split(s.text) if p.strip()]
    return out


# a full stop, "!" or "?" after a word of three or more letters (not "etc." or "approx.")
# and before a word typed in lower case
_CHAT_STOP = re.compile(
    r"(?<=\w{3}[.!?])(?<!\b[Ee]tc\.)(?<!\b[Mm]rs\.)(?<!\b[Aa]pprox\.)(?<!\b[Pp]rof\.)\s+(?=[a-z])"
)


def best_sentence(question: str, text: str) -> str:
    """The sentence of text sharing most content words with the question, words that name
    something first ("physio" before "day" in "which days does she have physio?"); the first
    on ties."""
    parts = sentences(text) or [text.strip()]
    specific = " ".join(w for w in question.split() if w.lower().rstrip("s?") not in GENERAL_NOUNS)
    return max(parts, key=lambda s: (overlap(specific, s), overlap(question, s), -parts.index(s)))


def lemmas(text: str) -> set[str]:
    """The lemmas of a text's words, lower case."""
    return {t.lemma_.lower() for t in parse(text).doc}


def best_sentences(question: str, text: str) -> str:
    """The sentences of text sharing most content words with the question, all of them when
    several tie: "my daughter Maisie is 6" and "she's allergic to sesame" each share one
    word with "what's Maisie allergic to?", and the answer is in the second."""
    parts = sentences(text) or [text.strip()]
    scores = [overlap(question, s) for s in parts]
    best = max(scores)
    return " ".join(s for s, n in zip(parts, scores, strict=True) if n == best)


def day_text(when: float) -> str:
    """A unix time as "8 May 2023"."""
    d = datetime.fromtimestamp(when, UTC)
    return f"{d.day} {d:%B %Y}"


def date_in(sentence: str, said: float, written_only: bool = False) -> str:
    """A date the sentence names, worked out from when it was said ("" when it names none);
    with `written_only`, only a date written out with its day ("2 May", "May 7, 2023")."""
    doc = parse(sentence).doc
    dates = [e for e in doc.ents if e.label_ == "DATE"]
    for e in dates:  # a date written out ("14 March", "May 7, 2023"): said as written
        lo, hi = e.start, e.end
        # the tagger sometimes splits the day off ("2 October" alone: CARDINAL + DATE)
        if lo > 0 and doc[lo - 1].like_num:
            lo -= 1
        if hi < len(doc) and doc[hi].like_num:
            hi += 1
        phrase = doc[lo:hi].text
        if _MONTH.search(phrase) and re.search(r"\d", phrase):
            return phrase.strip(" .,")
    # the tagger misses some ("due date is 9 May": "May" read as the verb); a day and a
    # month name side by side are a written date all the same
    if m := _WRITTEN_DATE.search(sentence):
        return m.group(0)
    if written_only:
        return ""
    # a weekday said of a habit ("bowls every Tuesday morning", "on Fridays") is the answer
    # as written: worked out, it would be one Tuesday
    if habit := _HABIT.search(sentence):
        return habit.group(0)
    if said and (m := WEEKDAY_DAY.search(sentence)):
        # "now Saturday the 21st": the nearer of the coming and the past one (a plan or a memory)
        at = datetime.fromtimestamp(said, UTC)
        near = [d for f in (True, False) if (d := weekday_and_day(m.group(0), at, future=f)) is not None]
        if near:
            day = min(near, key=lambda d: abs((d - at).total_seconds()))
            return f"{day.day} {day:%B %Y}"
    if bare := said_day(sentence):
        # "it's the 21st now": the month is the one being talked about, which the sentence
        # does not say (the date it replaces may: `day_after`); never the month it was said in
        return bare
    span = resolve(sentence, said) if said else None
    if span is None:
        weekday = next((e for e in dates if _WEEKDAY.search(e.text)), None)
        return weekday.text if weekday is not None else ""  # "on Wednesdays", as written
    days = (span.end - span.start).days
    start = span.start
    if days <= 1:
        return f"{start.day} {start:%B %Y}"
    if days <= 7:
        return f"the week of {start.day} {start:%B %Y}"
    if days <= 31 and start.day == 1:
        return f"{start:%B %Y}"
    if days >= 365 and start.month == 1 and start.day == 1:
        return str(start.year)
    return f"{start.day} {start:%B %Y} to {span.end.day} {span.end:%B %Y}"


_BARE_DAY = re.compile(
    r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b"
    rf"(?!\s+(?:of\s+)?{_MONTH_NAME})",
    re.IGNORECASE,
)


_NOT_BEFORE = re.compile(r"(?:\bnot|n't|\binstead of|\brather than|\bno longer|\bmoved from)\W+(?:\w+\W+)?$", re.IGNORECASE)


def ruled_out(before: str) -> bool:
    """True when the words just before a value rule it out ("can't do", "instead of")."""
    return bool(_NOT_BEFORE.search(before))


def said_day(sentence: str) -> str:
    """A day of the month said alone ("the 21st", "Tuesday the 17th"), as written; of two,
    the one not ruled out ("can't do the 19th, he's coming on the 23rd"); "" when none."""
    days = [m for m in _BARE_DAY.finditer(sentence) if not ruled_out(sentence[: m.start()])]
    return days[-1].group(0) if days else ""


def nearest_day(bare: str, said: float) -> str:
    """A day said alone ("the 15th") as the date with that day nearest to when it was said
    (a past one or a coming one); "" when it names no day."""
    m = _BARE_DAY.search(bare)
    if m is None or not said:
        return ""
    at = datetime.fromtimestamp(said, UTC)
    day = int(m.group(1))
    near = []
    for step in (-1, 0, 1):
        year, month = divmod(at.year * 12 + at.month - 1 + step, 12)
        try:
            near.append(datetime(year, month + 1, day, tzinfo=UTC))
        except ValueError:
            continue  # "the 31st" in a month of 30 days
    if not near:
        return ""
    best = min(near, key=lambda d: abs((d - at).total_seconds()))
    return f"{best.day} {best:%B %Y}"


def is_said_day(text: str) -> bool:
    """True when a value is a day of the month said alone ("the 21st")."""
    return bool(_BARE_DAY.fullmatch(text.strip()))


# "brought it forward to the 2nd": the new day is before the old one; "pushed back to the 3rd": after
_EARLIER = re.compile(r"\b(?:forward|earlier|sooner|moved up|bumped up)\b", re.IGNORECASE)
_LATER = re.compile(r"\b(?:back|later|delayed|postponed|put off|pushed)\b", re.IGNORECASE)


def day_after(text: str, old: str) -> str:
    """The new date of "they'll come Tuesday the 17th instead", read near the date it
    replaces ("Monday 9 June" -> "17 June"): the nearest date with that day, before or after
    the old one as the text says it moved ("brought forward to the 2nd" of 9 October is 2
    October, "pushed back to the 3rd" of 28 May is 3 June); "" when the text names no bare
    day other than the old one, or `old` is no date."""
    import dateparser  # the date library reads the old date however it was written

    when = dateparser.parse(old, settings={"REQUIRE_PARTS": ["day", "month"]})
    if when is None:
        return ""
    earlier, later = bool(_EARLIER.search(text)), bool(_LATER.search(text))
    for m in _BARE_DAY.finditer(text):
        day = int(m.group(1))
        if day == when.day or not 1 <= day <= 31 or ruled_out(text[: m.start()]):
            continue  # "a clash on the 9th": the old day, said again; "can't do the 12th"
        options = []
        for step in (-1, 0, 1):  # the month before, the same, the month after
            year, month = divmod(when.year * 12 + when.month - 1 + step, 12)
            try:
                options.append(datetime(year, month + 1, day))
            except ValueError:
                continue  # no 31st in that month
        old_day = when.replace(hour=0, minute=0, second=0, microsecond=0)
        if earlier != later:  # the way it moved, where the text says one
            options = [d for d in options if (d < old_day) == earlier] or options
        best = min(options, key=lambda d: abs((d - old_day).days))
        return f"{day} {best:%B}"
    return ""


# "pushed the op back a fortnight", "moved the jabs a week later", "brought it forward two days":
# a date moved by a span of time, with no new date written
_SPAN_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_SHIFT_SPAN = re.compile(
    r"(?<!\bfor )(?<!\bevery )(?<!\bin )(?<!\bwithin )(?<!\bafter )(?<!\bbefore )"
    r"\b(a|an|one|two|three|four|five|six|\d{1,2})\s+(day|week|fortnight|month)s?\b"
    r"(?!\s+(?:ago|before|after|old|notice|off|holiday|of|in|at|on)\b)(?!'s)",
    re.IGNORECASE,
)
_MOVE_VERB = re.compile(
    r"\b(?:push(?:ed|ing)?|put(?:ting)?|mov(?:e|ed|ing)|shift(?:ed|ing)?|delay(?:ed|ing)?|"
    r"postpon(?:e|ed|ing)|br(?:ought|ing|inging)|bump(?:ed|ing)?|knock(?:ed|ing)?|"
    r"slid|slipp(?:ed|ing)|shunt(?:ed|ing)?|shov(?:e|ed|ing)|later|earlier|sooner)\b",
    re.IGNORECASE,
)
# (day_after's _EARLIER, but not its _LATER: "pushed" says later there, and "pushed it forward
# a week" is earlier)
_SPAN_LATER = re.compile(r"\b(?:back|later|delay(?:ed)?|postponed?|put off|pushed on)\b", re.IGNORECASE)


def shifted_date(text: str, old: str) -> str:
    """The date `old` moved by the span of time a clause of the text says it moved ("they've
    pushed the op back a fortnight" of "22 October" is "5 November"; "brought forward two
    days" of "Friday 9 May" is "7 May"); "" when no clause moves something by a span, the
    way it moved is not said, or `old` is no date. A move by whole weeks keeps the weekday."""
    import dateparser  # the date library reads the old date however it was written
    from dateutil.relativedelta import relativedelta

    for part in re.split(r"(?<=[.!?;])\s+|,\s+|\s+-\s+|\s+—\s+", text):
        m = _SHIFT_SPAN.search(part)
        if m is None or not _MOVE_VERB.search(part):
            continue
        earlier, later = bool(_EARLIER.search(part)), bool(_SPAN_LATER.search(part))
        if earlier == later:
            continue  # "moved it a week": which way is not said
        when = dateparser.parse(old, settings={"REQUIRE_PARTS": ["day", "month"]})
        if when is None:
            return ""
        word = m.group(1).lower()
        count = int(word) if word.isdigit() else _SPAN_NUMBERS[word]
        unit = m.group(2).lower()
        step = relativedelta(months=count) if unit == "month" else relativedelta(
            days=count * {"day": 1, "week": 7, "fortnight": 14}[unit]
        )
        new = when - step if earlier else when + step
        weekday = re.search(r"\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b", old, re.IGNORECASE)
        whole_weeks = unit in ("week", "fortnight")
        # (the weekday as told: the year the library guesses may not be the one meant)
        return f"{weekday.group(0)} {new.day} {new:%B}" if weekday and whole_weeks else f"{new.day} {new:%B}"
    return ""


def _clip(sentence: str) -> str:
    words = _FILLER.sub("", sentence).split()
    if not words:
        words = sentence.split()
    out = " ".join(words[:MAX_ANSWER_WORDS])
    return out if len(words) <= MAX_ANSWER_WORDS else out.rstrip(",;:") + "…"


def _new(ent: Any, asked: set[str]) -> bool:
    """True when an entity is not just what the question itself names."""
    return bool(content_words(ent.text) - asked) or not content_words(ent.text)


# Words people use for the same person in their life ("my GP" told, "my doctor" asked). A
# partner is any of the words for one; a wife is not a husband.
_SAME_ROLE = [
    "mom mum mother mama mommy mummy",
    "dad father papa daddy",
    "doctor gp physician doc dr dr.",
    "boss manager supervisor",
    "grandma granny nan nana grandmother",
    "grandpa granddad grandad grandfather",
    "vet veterinarian",
    "lawyer solicitor attorney",
    "landlord landlady",
    "coworker colleague co-worker",
    "friend buddy pal mate bestie",
    "girlfriend gf",
    "boyfriend bf",
    "roommate roomie flatmate housemate",
    "fiance fiancé fiancee fiancée",
    "son lad boy",
    "daughter girl lass",
    "kid child",
]
_ROLE_SYNONYMS = frozenset(" ".join(_SAME_ROLE).split())
# A pet is often told by its breed ("our beagle Biscuit") and asked by its kind ("our dog").
_BREEDS = {
    # words that are also common nouns ("lab", "boxer", "pointer") are left out
    "dog": "puppy pup labrador retriever poodle beagle spaniel terrier collie shepherd "
    "dachshund corgi husky greyhound whippet pug bulldog rottweiler doberman schnauzer "
    "chihuahua labradoodle cockapoo cavapoo samoyed akita shiba malamute vizsla weimaraner "
    "sheepdog mastiff dalmatian pomeranian maltese westie",
    "cat": "kitten kitty tabby siamese persian ragdoll bengal sphynx maine coon",
}
_PARTNERS = frozenset(
    ["partner", "boyfriend", "girlfriend", "husband", "wife", "spouse", "fiance", "fiancé",
     "fiancee", "fiancée"]
)  # fmt: skip


_REPORTS_TO = frozenset(["report to", "reports to", "reporting to"])


def role_phrases(role: str) -> frozenset[str]:
    """What a text may say to name the role: its words, and for a boss "I report to Hollis
    Grange now" (a phrase, so only a search of the text finds it, never a word's lemma)."""
    words = role_words(role)
    return words | _REPORTS_TO if "boss" in words else words


def role_words(role: str) -> frozenset[str]:
    """The role and the other words for the same person: "mom" -> mom, mum, mother, ..."""
    if not role:
        return frozenset()
    typed = role
    if role not in RELATION_NOUNS:  # "roomate" typed for "roommate"
        role = next(iter(get_close_matches(role, RELATION_NOUNS, n=1, cutoff=TYPO_SIMILARITY)), role)
    out = {role, typed}
    for group in _SAME_ROLE:
        if role in group.split():
            out |= set(group.split())
    if role in _BREEDS:
        out |= set(_BREEDS[role].split())
    if role == "partner":
        out |= _PARTNERS
    elif role in _PARTNERS:
        out |= {"partner", "spouse"}
    # (a typo put right is no compound: "roomate" is not "room" and "ate")
    return frozenset(out | (compound_parts(typed) if role == typed else set()))


COMPOUND_PART = 3  # each word of a closed compound has at least this many letters


def compound_parts(word: str) -> set[str]:
    """The two words a closed compound is written from, when the embedding model's vocabulary
    does not know it whole: "headteacher" -> head, teacher; "childminder" -> child, minder.
    A text may name the person by either ("the head, Mr Pritchard")."""
    from memory.embeddings import is_dictionary_word  # the embedding model's vocabulary

    word = word.lower()
    if not word.isalpha() or is_dictionary_word(word):
        return set()
    for cut in range(COMPOUND_PART, len(word) - COMPOUND_PART + 1):
        first, second = word[:cut], word[cut:]
        if is_dictionary_word(first) and is_dictionary_word(second):
            return {first, second}
    return set()


_POINTED_NAME = re.compile(
    r"^\s*(.+?),\s*(?:so\s+|and\s+)?what(?:'s|s| is| was)?\s+(?:his|her|their)\s+name\b", re.IGNORECASE
)


def asked_role(question: str) -> str:
    """The noun whose name a question asks for ("who is mum's doctor?" -> "doctor", "what's
    my mum's name?" -> "mum", "whats my cat called" -> "cat"); "" when it names none, or
    only a word for anyone ("who's our flour guy now", "the person who handles my card
    stuff": what they do says who, not the word)."""
    role = _asked_role(question)
    return "" if role in _ANYONE else role


_ANYONE = frozenset(["guy", "person", "lady", "woman", "man", "bloke", "chap", "dude", "fella", "someone", "folks", "people", "one"])


# adjectives that say when or which one, not what a person does ("the new guy")
_WHEN_WORDS = frozenset(["new", "old", "current", "other", "same", "last", "next", "first", "nice", "young", "main"])


def anyone_by_what(question: str) -> str:
    """What a word for anyone is said of ("sound" of "the sound guy's name", "flour" of "our
    flour guy"): a text that never says it does not name that person; "" when none."""
    if _asked_role(question) not in _ANYONE:
        return ""
    for tok in parse(question).doc:
        if tok.lemma_.lower() in _ANYONE:
            said = [
                c.lemma_.lower()
                for c in tok.children
                if c.dep_ == "compound" or (c.dep_ == "amod" and c.lower_ not in _WHEN_WORDS)
            ]
            if said:
                return said[0]
    return ""


def _asked_role(question: str) -> str:
    doc = parse(question).doc
    owner_by_place = _owner_before_name(doc)
    if owner_by_place:
        return owner_by_place
    # "their account lead, whats his name": the person named first, asked for by "his"
    if pointed := _POINTED_NAME.match(question):
        head = next(iter(parse(pointed.group(1)).doc.noun_chunks), None)
        if head is not None and is_person_noun(head.root.lemma_.lower()):
            return str(head.root.lemma_.lower())
    for tok in doc:
        if tok.lemma_.lower() == "name" and tok.pos_ == "NOUN":
            owner = next((c for c in tok.children if c.dep_ == "poss" and c.pos_ == "NOUN"), None)
            of = next((p for c in tok.subtree if c.dep_ in ("prep", "dative") and c.lower_ in ("of", "for") and c.head.i >= tok.i
                       for p in c.children if p.dep_ == "pobj"), None)  # fmt: skip
            if of is not None and of.pos_ == "PROPN":  # "the name of Biscuit's vet"
                of = next((c for c in of.head.children if c.dep_ == "pobj"), of)
            owner = owner if owner is not None else of
            if owner is not None and owner.pos_ == "NOUN":
                return str(owner.lemma_.lower())
    for tok in doc:
        # "who's my head baker now?": the tagger reads a lower-case "baker" as a surname
        noun = tok.pos_ == "NOUN" or (tok.pos_ == "PROPN" and tok.is_lower and is_person_noun(tok.lower_))
        if not noun or tok.lemma_.lower() == "name" or tok.dep_ not in ("nsubj", "attr", "nsubjpass"):
            continue
        if (
            any(t.lower_ in ("who", "whom") for t in tok.head.children)
            or tok.head.lemma_.lower() in ("call", "name")  # "what is my cat called?"
            or any(
                c.lemma_.lower() in ("call", "name") for c in tok.children
            )  # "whats my cat called"
        ):
            return str(_whole_noun(tok).lemma_.lower())
    for tok in doc:  # "which surgeon is doing it?", "which cousin put money in?"
        if tok.lower_ in ("which", "what") and tok.dep_ == "det" and is_person_noun(tok.head.lemma_.lower()):
            return str(tok.head.lemma_.lower())
    return ""


def _whole_noun(tok: Any) -> Any:
    """The last noun of the run that starts at tok: the parser reads "my head baker" as "head"
    with "baker" beside it (appos), though the person asked for is the baker."""
    doc = tok.doc
    while tok.i + 1 < len(doc):
        nxt = doc[tok.i + 1]
        lower_noun = nxt.pos_ == "NOUN" or (nxt.pos_ == "PROPN" and nxt.is_lower)
        if not (lower_noun and nxt.head.i == tok.i and nxt.dep_ in ("appos", "compound")):
            break
        tok = nxt
    return tok


def is_person_noun(word: str) -> bool:
    """True for a noun naming someone by their tie to the user or by their job ("cousin",
    "surgeon", "landlord", "gp", "physio"): its answer is a person's name."""
    return word in RELATION_NOUNS or is_role_word(word) or word in _ROLE_SYNONYMS


def _owner_before_name(doc: Any) -> str:
    """The owner written right before "name": "partner's name, for the business filing",
    "my boyfriend's name haha", "whats my dogs name" (the apostrophe not typed). Chat
    fragments like these are often misparsed, but the words' order still says whose name
    is asked; "" when the word before "name" is no one's."""
    for tok in doc:
        if tok.lower_ not in ("name", "names") or tok.i == 0:
            continue
        before = doc[tok.i - 1]
        if before.tag_ == "POS" and tok.i >= 2:  # "partner 's name"
            owner = doc[tok.i - 2]
        elif (
            before.lower_.endswith("s")
            and tok.i >= 2
            and doc[tok.i - 2].lower_ in ("my", "our", "his", "her", "their")
        ) or tok.i == 1:
            owner = before  # "my dogs name"; a fragment: "gf name", "roomates name?"
        else:
            continue
        if owner.pos_ in ("NOUN", "PROPN", "VERB") and owner.is_alpha and (owner.is_lower or owner.i == 0):
            word = owner.lower_
            if before is not owner:
                return word
            # "dogs" of "my dogs name": the singular, by the lemmatiser where it took the word
            # as a plural, else by its ending (the tagger often reads it as a verb)
            lemma = owner.lemma_.lower()
            if lemma != word and word.startswith(lemma[:3]):
                return lemma
            return word[:-1] if word.endswith("s") and not word.endswith("ss") else word
    return ""


LINKING_WORDS = 3  # "is", "is now", "is Dr": the words that may stand between a role and its name
_LINKING = frozenset(["is", "was", "'s", "now", ",", ":", "-", "=", "still", "currently"])


def _linked(person: Any, role: Any, hops: int = 1) -> bool:
    """True when the parse ties a name to the noun it names: "my partner Rui", "Rui, my
    partner", "her doctor is Dr. Otieno", "Otieno is her doctor", "a cat called Churro",
    "my manager is called Rumana Haque", "my buddy is my coworker Deshawn Mitchell"."""
    if person.head == role or role.head == person or person.i == role.i + 1:
        return True  # the word right after it too: "my cat Churro keeps ..." is misparsed
    if role.dep_ == "pobj" and role.head.lower_ in ("at", "from") and role.head.i == person.i + 1:
        return True  # "Dr Haugen at the vets", however the parse attached "at"
    between = person.doc[role.i + 1 : person.i]
    if (
        0 < len(between) <= LINKING_WORDS
        and all(t.lower_ in _LINKING or t.lower_.strip(".") in TITLES for t in between)
        and person.text[:1].isupper()  # a name as written, not "booked physio, oct 3"
        and person.ent_type_ not in ("DATE", "TIME", "CARDINAL", "MONEY")
    ):
        return True  # "The director is Ailsa Brodie and press night is ...", however misparsed
    if person.head == role.head and {person.dep_, role.dep_} <= {
        "nsubj",
        "nsubjpass",
        "attr",
        "appos",
        "npadvmod",
        "oprd",
        "ccomp",  # "maya's teacher is mr daniel cho": the name read as a clause
    }:
        return person.head.lemma_ in ("be", "call", "name") or "appos" in (person.dep_, role.dep_)
    named = person.head
    if named.lemma_.lower() in ("call", "name") and named.head == role:
        return True
    # "Niamh is coming in as assistant manager", "Leah joins as second shooter"
    if person.dep_ in ("nsubj", "nsubjpass") and role.dep_ == "pobj" and role.head.lower_ == "as":
        return role.head.head == person.head
    # one noun between: "my running buddy is my coworker Deshawn Mitchell"
    between = person.head
    return (
        hops > 0
        and between.pos_ == "NOUN"
        and between.i != person.i
        and _linked(between, role, hops - 1)
    )


_MODIFIERS = frozenset(["amod", "compound", "nummod", "npadvmod", "advmod"])


def _name_at(doc: Any, tok: Any) -> str:
    """The whole name a proper noun is part of, with its title ("Dr. Emeka Obi")."""
    ent = next((e for e in doc.ents if e.start <= tok.i < e.end), None)
    lo, hi = (ent.start, ent.end) if ent is not None else (tok.i, tok.i + 1)
    while hi < len(doc) and doc[hi].pos_ == "PROPN" and doc[hi - 1].dep_ == "compound":
        hi += 1  # "Dr." taken first: "Emeka Obi" after it
    # a surname typed in lower case, which the first name hangs on ("chiara ferri, she ...")
    while hi < len(doc) and doc[hi].is_lower and doc[hi].is_alpha and doc[hi - 1].head.i == hi and (
        doc[hi].pos_ in ("PROPN", "NOUN", "ADJ") and doc[hi - 1].dep_ in ("compound", "amod")
    ):
        hi += 1
    while lo > 0 and doc[lo - 1].pos_ == "PROPN" and doc[lo - 1].text[0].isalnum():
        lo -= 1
    if lo > 0 and doc[lo - 1].lower_.rstrip(".") in TITLES:
        lo -= 1
    return str(doc[lo:hi].text).strip(" ,.")


# Verbs whose object is a person ("hired Carmen", "handed the captaincy to Jordan", "replaced
# by Joris") and verbs whose subject is one ("Tomasz said", "Pablo pulled out")
_PERSON_OBJECT_VERBS = frozenset(
    ["hire", "appoint", "name", "make", "hand", "give", "promote", "replace", "ask", "tell", "text", "email", "call", "invite", "marry", "meet", "introduce", "pay", "thank", "recommend", "assign", "pick", "choose", "bring"]
)
_PERSON_SUBJECT_VERBS = frozenset(
    ["say", "tell", "promise", "offer", "agree", "quit", "leave", "join", "retire", "recommend", "suggest", "want", "think", "decide", "feed", "look", "ask", "text", "email", "call", "message", "reply", "confirm", "advise", "insist", "teach", "coach", "treat", "prescribe", "diagnose", "pull"]
)
_PRONOUNS_FOR_PEOPLE = frozenset(["he", "she", "him", "her", "his", "hers"])


# verbs of a person travelling: "flying out of Kraków", "moving to Leeds" (not "come": flour
# "comes from Moagem Lusitana", a supplier)
_MOTION_VERBS = frozenset(["fly", "travel", "move", "drive", "relocate", "ride", "sail", "head", "emigrate"])


def _said_as_place(tok: Any) -> bool:
    """True for a name said where a place goes: "in Alicante", "flying out of Kraków", "moving
    to Leeds" (the small tagger calls some towns people). "a gift from Maria", "talked to
    Maria", "flour comes from Moagem Lusitana" stay names: "from" and "to" make a place only
    after a verb of travelling."""
    if tok.dep_ != "pobj":
        return False
    prep = tok.head
    if prep.lower_ in ("in", "into", "near", "around"):
        return True
    verb = prep
    while verb.pos_ not in ("VERB", "AUX") and verb.head.i != verb.i:  # (the root heads itself)
        verb = verb.head
    return prep.lower_ in ("from", "to", "of", "out") and verb.lemma_.lower() in _MOTION_VERBS


def _named_by_cues(doc: Any, asked: set[str], who: bool) -> str:
    """A name the tagger did not call a person (a small tagger reads "Jordan" as a country and
    "Rafał" as a company), known for one by what the sentence does with it: someone hired,
    handed something or replaced, someone who says or quits, or someone "he" or "she" comes
    back to right after ("I've hired Carmen instead, she was ..."). Never a place it is in.
    Who says or does a thing answers only a "who" question: "what name did they choose?" is
    not answered by "Nikhil says ..."."""
    for tok in doc:
        if tok.pos_ != "PROPN" or not tok.is_alpha or not tok.text[0].isupper() or tok.lower_ in asked:
            continue
        # "Keiko's stepping in" is "Keiko is", which the parse may read as Keiko's thing
        contracted = tok.dep_ == "poss" and tok.head.dep_ == "ROOT" and tok.head.lower_.endswith("ing")
        if tok.lower_ in _NOT_NAMES or (tok.dep_ == "poss" and not contracted):
            continue
        if _WHOLE_MONTH.fullmatch(tok.text) or _WEEKDAY.fullmatch(tok.text):
            continue
        head = tok.head
        if _said_as_place(tok):
            continue  # "in Alicante", "flying out of Kraków"
        verb = head.head if tok.dep_ in ("pobj", "compound") and head.pos_ == "ADP" else head
        cued = (
            # (its object, not its complement: "a salon called Fringe Benefits" names a salon)
            (tok.dep_ in ("dobj", "pobj", "dative") and verb.lemma_.lower() in _PERSON_OBJECT_VERBS)
            or (who and tok.dep_ in ("nsubj", "nsubjpass") and head.lemma_.lower() in _PERSON_SUBJECT_VERBS)
            or (tok.dep_ == "attr" and any(c.dep_ == "nsubj" and is_person_noun(c.lemma_.lower()) or c.lemma_.lower() == "replacement" for c in head.children))
        )
        if not cued and who:
            # "he"/"she" next, before any other name: the sentence goes on about this person
            for nxt in doc[tok.i + 1 : tok.i + 8]:
                if nxt.pos_ == "PROPN":
                    break
                if nxt.lower_ in _PRONOUNS_FOR_PEOPLE:
                    cued = True
                    break
        if cued:
            return _name_at(doc, tok)
    return ""


def _person(doc: Any, asked: set[str], role: str = "", strict: bool = False, who: bool = False) -> str:
    same = role_words(role)
    roles = [t for t in doc if t.lemma_.lower() in same]
    # "who's my second supervisor?" of "Main supervisor is Prof. Lindqvist, second supervisor
    # is Dr. Emeka Obi": the role word with the question's own modifier
    marked = [r for r in roles if {c.lower_ for c in r.children if c.dep_ in _MODIFIERS} & asked]
    for r in marked:  # the name said right after it, whatever the parse joined it to
        after = next((t for t in doc[r.i + 1 : r.i + 4] if t.pos_ not in ("AUX", "PUNCT")), None)
        if after is not None and after.pos_ == "PROPN" and after.lower_ not in _CHAT_FILLERS:
            return _name_at(doc, after)
    roles = marked or roles
    # a role said beside another noun for it: "a badante (carer) called Ludmila"
    roles += [r.head for r in roles if r.dep_ == "appos" and r.head.pos_ == "NOUN"]
    roles += [c for r in roles for c in r.children if c.dep_ == "appos" and c.pos_ == "NOUN"]
    # "my new boss's name is Raj Patel": the name is the boss's
    roles += [r.head for r in roles if r.dep_ == "poss" and r.head.lemma_.lower() == "name"]
    if roles or strict:  # the question asks whose name: only a name tied to that noun answers
        for tok in doc:
            if tok.lemma_.lower() in same:
                continue  # "landlord is herr kessler": the role word itself, tagged a name
            if tok.dep_ == "poss" or tok.lower_ in asked or tok.lower_ in _CHAT_FILLERS or not tok.text[0].isalnum():
                continue  # "Liam's coach is Shane Doyle": whose coach, not the coach
            # a capitalised "noun" tied to the role is a name the tagger did not know
            # ("Tomasz is my head baker": Tomasz read as a noun at the sentence's start)
            unknown_name = tok.pos_ == "NOUN" and tok.text[:1].isupper() and tok.is_alpha and not is_person_noun(tok.lower_)
            if (tok.pos_ == "PROPN" or tok.ent_type_ == "PERSON" or unknown_name) and any(_linked(tok, r) for r in roles):
                return _name_at(doc, tok)
        return next((n for r in roles if (n := _lower_case_name(doc, r))), "")
    for e in doc.ents:
        # a name ends in a proper noun: "kitchen reno time" is no one, whatever the tagger says
        if e.label_ == "PERSON" and e[-1].pos_ == "PROPN" and _new(e, asked) and not _said_as_place(e.root):
            return _name_at(doc, e[0])
    if cued := _named_by_cues(doc, asked, who):
        return cued
    # a name the tagger took for a place or a thing, said beside whom it is: "My staff
    # Chiamaka is now my manager", "with my best friend Inés" (when no one's role is asked:
    # "the name of my bakery" is not the name of my staff)
    for tok in doc if not role else ():
        head = tok.head
        owned = any(c.dep_ == "poss" for c in head.children)  # "my staff", "our neighbour"
        beside = tok.dep_ in ("appos", "compound") and (head.lemma_.lower() in RELATION_NOUNS or owned)
        # "Our roofer Dariusz quoted ...", "his business partner Kenji is ...": right after a
        # noun for someone, however the parse joined them
        before = doc[tok.i - 1] if tok.i else tok
        beside = beside or (
            tok.pos_ == "PROPN"
            and before.pos_ == "NOUN"
            and (is_person_noun(before.lemma_.lower()) or bool(_AGENT.search(before.lower_)))
            and any(c.dep_ == "poss" and c.pos_ == "PRON" for c in before.children)
        )
        if beside and tok.text[:1].isupper() and tok.is_alpha and tok.lower_ not in asked and tok.i > 0:
            return _name_at(doc, tok)
    return ""


# "who am i getting wax from", "who do we bank with": a firm answers, as well as a person
_SUPPLIER_ASK = re.compile(
    r"\bwho\b.*\b(?:from|with|through|via)(?:\s+(?:these days|now|again|at the moment|nowadays|currently))?\W*$",
    re.IGNORECASE,
)


def _supplier(doc: Any, asked: set[str]) -> str:
    """A firm a sentence gets something from or goes to ("switching over to Greenleaf Soy
    Co.", "we order from Hartwell Supplies"); "" when none."""
    for e in doc.ents:
        if (
            e.label_ in ("ORG", "PERSON")
            and e.root.dep_ == "pobj"
            and e.root.head.lower_ in ("from", "to", "with", "through", "via")
            and _new(e, asked)
        ):
            return str(e.text)
    return ""


def _true_cased(doc: Any) -> str:
    """The text with the words the tagger reads as names capitalised, as a chat typed in
    lower case would have them written ("going amsterdam instead" -> "going Amsterdam
    instead"); chat abbreviations and month names stay as typed."""
    return "".join(
        t.text_with_ws[:1].upper() + t.text_with_ws[1:]
        if t.pos_ == "PROPN" and t.is_lower and t.is_alpha and t.lower_ not in _CHAT_FILLERS and not _WHOLE_MONTH.fullmatch(t.text)
        else t.text_with_ws
        for t in doc
    )


def _doer(question: str, doc: Any) -> str:
    """Who does what a "who" question asks, read off the parse: the subject of the same verb
    in the text ("who is selling it?" of "my mate jonno is selling his corsa" -> "Jonno";
    "my friend Tomasz help us with his van" -> "Tomasz"). "" for a pronoun or no such verb."""
    asked = parse(question).doc
    who = next((t for t in asked if t.lower_ in ("who", "whom") and t.dep_ in ("nsubj", "nsubjpass")), None)
    if who is None or who.head.lemma_.lower() == "be":
        return ""
    verb = who.head.lemma_.lower()
    for tok in doc:
        if tok.lemma_.lower() != verb or tok.pos_ != "VERB":
            continue
        for subj in (c for c in tok.children if c.dep_ == "nsubj"):
            # "my friend Tomasz": the name beside the noun for the person
            named = [c for c in subj.children if c.dep_ in ("appos", "compound") and c.pos_ == "PROPN"]
            if named:
                return _name_at(doc, named[0])
            if subj.pos_ == "PROPN":
                return _name_at(doc, subj) if not subj.is_lower else subj.text.capitalize()
    return ""


# words typed in a chat that are no names ("gary still my area manager tho")
_CHAT_FILLERS = frozenset(["lol", "tho", "haha", "lmao", "pls", "plz", "rn", "tbh", "btw", "ugh", "omg", "ok", "okay", "idk", "imo", "ya", "yeah", "yep", "nope", "smh", "ngl", "fr", "asap"])
_NOT_NAMES = _CHAT_FILLERS | frozenset(["update", "bad", "good", "news", "hey", "hi", "hello", "thanks", "god", "lord", "jesus"])
LOWER_CASE_NAME_WORDS = 3  # a name typed in lower case after its noun: at most this many words


def _lower_case_name(doc: Any, role: Any) -> str:
    """A name typed in lower case right after the noun for the person ("my cat biscuit
    keeps yowling", "area manager kessler"): the words after it that are names to the
    tagger or no common word (`is_dictionary_word`), so "my partner meeting" names no one."""
    from memory.embeddings import is_dictionary_word  # the model's vocabulary, loaded once

    words: list[Any] = []
    for tok in doc[role.i + 1 : role.i + 1 + LOWER_CASE_NAME_WORDS]:
        if not (tok.is_alpha and tok.is_lower) or tok.is_stop or tok.lower_ in _CHAT_FILLERS:
            break
        if tok.pos_ not in ("PROPN", "NOUN", "ADJ", "X") or tok.ent_type_ in ("DATE", "TIME", "CARDINAL"):
            break
        # a common word too, when it alone ends the clause: "living w my roommate sven."
        ends = not words and (tok.i + 1 == len(doc) or doc[tok.i + 1].is_punct)
        if not (tok.pos_ == "PROPN" or tok.ent_type_ == "PERSON" or not is_dictionary_word(tok.text) or ends):
            break
        words.append(tok)
    return " ".join(t.text.capitalize() for t in words)


_PLACE_KIND = re.compile(
    r"\b(?:what|which)\s+(?:city|town|suburb|village|country|neighbou?rhood|area|district|borough|state)\b",
    re.IGNORECASE,
)


def _lower_case_place(doc: Any, asked: set[str]) -> str:
    """A town typed in lower case ("they're in the backyard in brunswick"), for a question
    that asks for a town by its kind: a bare noun after "in", with no article, no date."""
    for tok in doc:
        if (
            tok.dep_ == "pobj"
            and tok.head.lower_ in ("in", "near", "from")
            and tok.pos_ in ("NOUN", "PROPN")
            and tok.tag_ != "NNS"
            and not tok.ent_type_
            and not any(c.dep_ in ("det", "poss", "amod", "nummod") for c in tok.children)
            and tok.lemma_.lower() not in asked
        ):
            return str(tok.text)
    return ""


def _institution(doc: Any, asked: set[str], kind: str = "") -> str:
    """A school, hospital or company by its name: an organisation or building the tagger
    found, or a name holding such a word ("Riverside Academy"); not the town it is in, nor
    a place of another kind than the one asked ("St. Ambrose Medical Center" is no school)."""
    other = INSTITUTIONS - same_institution(kind) if kind else frozenset()
    named = [
        e
        for e in doc.ents
        if e.label_ in ("ORG", "FAC", "PRODUCT")
        and _new(e, asked)
        and not {t.lower_ for t in e} & other
        # "big news, we moved to Porto": lower-case words with an adjective are no name
        and not (e.text.islower() and any(t.pos_ == "ADJ" for t in e))
        # "My GP is Dr. Mbeki": a word for a person is no place ("which hotel ...?")
        and not any(is_person_noun(t.lower_) for t in e)
    ]
    # the one the user goes to or works at first ("starts maternelle at École Jean Macé, his
    # teacher will be Sophie Roux": the tagger calls the school a product, the teacher an org)
    attended = [e for e in named if e.root.dep_ == "pobj" and e.root.head.lower_ in ("at", "to", "into")]
    for e in attended + [e for e in named if e.label_ != "PRODUCT"]:
        return _whole_name(doc, e.start, e.end)
    return named_institution(doc, INSTITUTIONS - other, asked)


_NAME_LINKS = frozenset(["do", "da", "de", "del", "della", "di", "du", "la", "le", "of", "the", "von", "van", "y", "&"])


def _whole_name(doc: Any, start: int, end: int) -> str:
    """A capitalised name the tagger cut short, whole: "Casa do Largo" of "Casa" (it read
    "do" as the verb), "Bank of Ireland"."""
    while end < len(doc) and (
        doc[end].is_title or (doc[end].lower_ in _NAME_LINKS and end + 1 < len(doc) and doc[end + 1].is_title)
    ):
        end += 2 if doc[end].lower_ in _NAME_LINKS else 1
    return str(doc[start:end].text)


def named_institution(doc: Any, kinds: frozenset[str], asked: frozenset[str] | set[str] = frozenset()) -> str:
    """A name holding a word for one of these kinds of place ("Riverside Academy")."""
    for chunk in doc.noun_chunks:
        words = [t for t in chunk if t.pos_ == "PROPN" or t.lower_ in kinds or t.lemma_.lower() in kinds]
        if any(t.pos_ == "PROPN" for t in words) and any(t.lower_ in kinds for t in chunk):
            text = str(doc[words[0].i : words[-1].i + 1].text)
            if content_words(text) - asked:
                return text
    return ""


_WORK_ASK = re.compile(r"\bwhere\b.*\b(?:works?|working|employed)\b", re.IGNORECASE)
_WORK_LEMMAS = frozenset(["work", "teach", "intern", "volunteer"])


def _workplace(doc: Any) -> str:
    """The place a verb of working names, with where it is: "works in a hair salon in
    Lavapiés" -> "a hair salon in Lavapiés"; "" when none."""
    for verb in doc:
        if verb.lemma_.lower() not in _WORK_LEMMAS:
            continue
        for prep in verb.children:
            if prep.dep_ != "prep" or prep.lower_ not in ("in", "at"):
                continue
            place = next((p for p in prep.children if p.dep_ == "pobj" and is_workplace(p)), None)
            if place is not None:
                return str(doc[place.left_edge.i : place.right_edge.i + 1].text)
    return ""


def _booked(doc: Any, asked: set[str]) -> str:
    """A place booked by its name: "we've now booked Hotel Pod Dębem instead"."""
    for tok in doc:
        if tok.dep_ == "dobj" and tok.pos_ == "PROPN" and tok.head.lemma_.lower() in _BOOKING_VERBS:
            words = [c for c in tok.subtree if (c.dep_ == "compound" and c.pos_ == "PROPN") or c.i == tok.i]
            text = doc[min(c.i for c in words) : tok.i + 1].text
            if content_words(text) - asked:
                return str(text)
    return ""


def _place(doc: Any, asked: set[str]) -> str:
    booked = _booked(doc, asked)
    if booked and asked & _BOOKING_VERBS:
        return booked  # "where did i book it?": the place booked, before the town it is in
    # not a name beside a noun for a person, whatever the tagger calls it ("our daughter Sabine")
    ents = [e for e in doc.ents if _new(e, asked) and not (e.root.dep_ == "appos" and e.root.head.pos_ == "NOUN")]
    ents = [e for e in ents if not is_money(e.text)]  # "cut the budget to 6.5 million naira" (an ORG)
    for e in ents:
        if e.label_ in _PLACES:
            return e.text
    # the small model tags some towns ORG ("moved to York"), and some venues a person's name
    # ("moved to Mill House Barn")
    for e in ents:
        if (e.label_ == "ORG" or e[-1].lower_ in _VENUES) and e.root.dep_ == "pobj" and e.root.head.lower_ in _PLACE_PREPS:
            return e.text
    for tok in doc:  # a named place it tagged as nothing (not "moved to 3 December")
        if (
            tok.dep_ == "pobj"
            and tok.pos_ == "PROPN"
            and tok.head.lower_ in _PLACE_PREPS
            and tok.ent_type_ not in (*_AMOUNTS, "DATE", "ORDINAL")
            and not _currency(tok.lower_)  # "cut the budget to 6.5 million naira"
        ):
            words = [c for c in tok.subtree if c.dep_ in ("compound", "det") or c.i == tok.i]
            text = doc[min(c.i for c in words) : tok.i + 1].text
            if content_words(text) - asked:
                return text
    if booked:
        return booked
    for tok in doc:  # a place of someone's: "doing it in our backyard instead", "at my mum's"
        if tok.dep_ == "pobj" and tok.pos_ == "NOUN" and tok.head.lower_ in _PLACE_PREPS and any(
            c.dep_ == "poss" for c in tok.children
        ) and not is_person_noun(tok.lemma_.lower()):  # "a note to my pottery teacher" is to no place
            text = doc[tok.left_edge.i : tok.i + 1].text
            if content_words(text) - asked:
                return text
    for tok in doc:  # a place named by what it is, typed in lower case: "at the village hall in bramhall"
        if (
            tok.dep_ == "pobj"
            and tok.pos_ == "NOUN"
            and tok.head.lower_ in _PLACE_PREPS
            and tok.lemma_.lower() in _VENUES
            and any(c.lower_ == "the" for c in tok.children)  # one place, not "cooking at a hotel"
        ):
            text = doc[tok.left_edge.i : tok.right_edge.i + 1].text
            if content_words(text) - asked:
                return text
    return ""


def _joined_ents(doc: Any) -> list[Any]:
    """The tagger's entities, two of one kind side by side joined: it splits "up to £1,975"
    into "up to £" and "1,975", both MONEY."""
    from spacy.tokens import Span as Entity

    out: list[Any] = []
    for e in doc.ents:
        if out and out[-1].label_ == e.label_ and out[-1].end == e.start:
            out[-1] = Entity(doc, out[-1].start, e.end, label=e.label_)
        else:
            out.append(e)
    return out


def _glued_unit(doc: Any, i: int) -> bool:
    """True when token i is a unit written onto the number before it ("1000mg", "5ml", "12kg"):
    a few letters with no space between, whatever the tagger called them."""
    tok = doc[i]
    return not doc[i - 1].whitespace_ and tok.is_alpha and len(tok.text) <= 3 and tok.lower_ not in ("st", "nd", "rd", "th")


def _number(doc: Any, asked: set[str], question: str) -> str:
    if _CODE_ASK.search(question):
        return _code(doc)
    found: dict[str, Any] = {}  # each amount as said, and the token that carries it
    durations: set[str] = set()  # DATE entities, kept for "how long" when nothing else counts
    how_long = re.search(r"\bhow (?:long|old|often)\b", question, re.I) is not None
    how_much = asks_money(question)
    amount = how_much or _how_much_of_a_thing(question)  # "how much oak": an amount, never a count ("two fronts")
    for e in _joined_ents(doc):
        if e.label_ == "MONEY" and not any(t.like_num for t in e):
            continue  # "up to £" of "up to £1,975", where the tagger split the sum
        priced = e.start > 0 and doc[e.start - 1].is_currency  # "€45 an hour", tagged a time
        if (e.label_ in _AMOUNTS and (e.label_ != "TIME" or how_long or priced)) or (
            e.label_ == "DATE" and (how_long or priced)
        ):  # "2pm" is no amount; "50 minutes" (TIME too) answers "how long"
            head = e.root.head
            text = e.text
            if e.label_ == "CARDINAL" and _WHOLE_MONTH.fullmatch(head.text):
                continue  # the day of "1 march", tagged a number
            if e.text.lower() == "one" and e.root.dep_ != "nummod":
                continue  # "One of my longtime employees": a pronoun, no amount
            if amount and _count(e.root):
                continue  # "how much" asks for an amount, not a count ("20 kids")
            if e.label_ == "CARDINAL" and e.root.dep_ == "nummod" and head.i == e.end:
                text = doc[e.start : head.i + 1].text  # "40 guests"
            elif e.label_ == "CARDINAL" and e.root.dep_ == "nummod" and head.i == e.start - 1 and head.pos_ in ("NOUN", "PROPN"):
                text = doc[head.i : e.end].text  # "band 7", "gate 12": the number names the noun
            if e.start and doc[e.start - 1].is_currency:
                text = doc[e.start - 1].text + text  # "£250", where the tagger left "250"
            elif e.label_ == "CARDINAL" and e.end < len(doc) and _currency(doc[e.end].lower_):
                text = doc[e.start : e.end + 1].text  # "600 euros total": the tagger left "600"
            elif e.label_ == "CARDINAL" and e.end < len(doc) and _glued_unit(doc, e.end):
                text = doc[e.start : e.end + 1].text  # "1000mg", where the tagger took "mg" for a word
            found[text] = e.root
            if e.label_ == "DATE" and not priced:
                durations.add(text)
    for start, end in _written_amounts(doc):
        # a number the tagger left untagged ("budget around 12000 rupees") or tagged as a
        # name ("Budget R350 000 absolute max.", an ORG to the small model)
        tok = doc[end]
        head = tok.head
        if amount and _count(tok):
            continue
        if head.i > end and tok.dep_ == "nummod" and head.pos_ == "NOUN":
            end = head.i  # "12000 rupees"
        found.setdefault(doc[start : end + 1].text, tok)
    if not how_long:  # "second set at 9:30pm" is an hour, never an amount or a count
        found = {f: t for f, t in found.items() if not _CLOCK_SAID.fullmatch(f.strip())}
    # "50 minutes" before "last month"; for "how much did I set aside", "£1,200" before "96 miles"
    # "how many sessions will the insurance pay for?": a count, before "£48" a session
    counted = re.search(r"\bhow many\b", question, re.I) is not None
    # "how heavy were my boxes?" of "two boxes, 42 kg in total": the weight
    weighed = re.search(r"\b(?:heavy|weigh\w*)\b", question, re.I) is not None
    ordered = sorted(
        found,
        key=lambda f: (
            f in durations,
            how_much and not is_money(f),
            counted and is_money(f),
            weighed and not _WEIGHT.search(f),
        ),
    )
    # never the asked thing's own name ("MX-5" of "what did the mx-5 cost me?")
    ordered = [f for f in ordered if f.lower() not in question.lower()] or ordered
    named = [  # "40 guests" for "how many guests"
        f for f in ordered if content_words(f) & asked and not (weighed and not _WEIGHT.search(f))
    ]
    if named or not ordered:
        return (named or ordered or [""])[0]
    # "how much budget?" of "planning for 15 kids, budget around 12000 rs": the amount the
    # parse attaches nearest to a word the question names
    # "what budget i have for this trip": nearest "budget", not "trip" ("just us two")
    key = asked_noun(question)
    anchors = [t for t in doc if t.lemma_.lower() == key] or [t for t in doc if t.lemma_.lower() in asked]
    if not anchors:
        return ordered[0]
    return min(
        ordered, key=lambda f: (f in durations, min(_distance(found[f], a) for a in anchors))
    )


# A code asked for: a booking reference, a confirmation, a key-box or door code, a flight number
_CODE_ASK = re.compile(
    r"\b(?:code|ref|reference|confirmation|conf|pin|passcode|flight (?:no|number)|booking (?:no|number)|no\.)(?!\w)",
    re.IGNORECASE,
)
# A code as written: letters and digits, with "-" or "/" inside ("K7QX2M", "AG-7731", "24/01187/HOU")
_CODE_SHAPE = re.compile(r"(?<![\w£$€])(?=[A-Z0-9/-]*\d)[A-Z0-9]+(?:[-/][A-Z0-9]+)*(?![\w%])")
_CODE_WORDS = frozenset(["code", "ref", "reference", "number", "confirmation", "conf", "pin", "booking", "flight", "no"])


def _code(doc: Any) -> str:
    """The code a sentence gives: one said right after a word for a code ("code 3391", "Booking
    ref K7QX2M"), else one that mixes letters and digits; never an amount, a date or an hour."""
    amounts = [(e.start_char, e.end_char) for e in doc.ents if e.label_ in ("MONEY", "TIME", "PERCENT", "QUANTITY")]
    dates = [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "DATE"]
    found = []
    for m in _CODE_SHAPE.finditer(doc.text):
        if any(a <= m.start() < b for a, b in amounts) or len(m.group(0)) < 3:
            continue
        before = re.findall(r"[a-z]+", doc.text[max(0, m.start() - 25) : m.start()].lower())[-3:]
        cued = bool(set(before) & _CODE_WORDS)
        if not cued and any(a <= m.start() < b for a, b in dates):
            continue  # (the tagger calls "code 3391" and "reference AG-7731" dates)
        mixed = bool(re.search(r"[A-Z]", m.group(0))) and bool(re.search(r"\d", m.group(0)))
        if cued or mixed:
            found.append((not cued, m.group(0)))
    return min(found)[1] if found else ""


_WEIGHT = re.compile(r"\d\s*(?:kg|kgs|kilos?|kilograms?|lbs?|g|grams?|st|stone|tonnes?|tons?)\b", re.IGNORECASE)


def asks_money(question: str) -> bool:
    """True for "how much" asked of an amount of money, not of a weight, distance or time,
    and for a price asked by what is charged ("what were the caterers charging per person")."""
    return bool(re.search(r"\bhow much\b", question, re.I) or _PRICE_ASK.search(question)) and not (
        re.search(r"\b(?:weigh\w*|heavy|far|long|time|distance)\b", question, re.I) or _how_much_of_a_thing(question)
    )


# what "how much <noun>" asks for in money
_MONEY_NOUNS = frozenset(
    ["money", "cash", "rent", "budget", "deposit", "fee", "fees", "salary", "pay", "wage", "wages",
     "tip", "tips", "fund", "funds", "price", "cost", "bill", "loan", "mortgage", "rate", "premium",
     "fine", "refund", "allowance", "pocket"]
)  # fmt: skip


def _how_much_of_a_thing(question: str) -> bool:
    """True for "how much donepezil is she on", "how much flour": an amount of a thing, which a
    dose or a weight answers, not a sum."""
    doc = parse(question).doc
    for tok in doc[:-1]:
        if tok.lower_ == "much" and tok.i > 0 and doc[tok.i - 1].lower_ == "how":
            after = doc[tok.i + 1]
            return after.pos_ in ("NOUN", "PROPN") and after.lower_ not in _MONEY_NOUNS and not _currency(after.lower_)
    return False


def asks_price(question: str) -> bool:
    """True for a price asked by what is charged or paid ("how much do i pay kofi an hour",
    "what deposit did i ask for"): only a sum of money answers it, never a count."""
    return bool(_PRICE_ASK.search(question))


def _count(number: Any) -> bool:
    """True for a number counting things ("20 kids"), not an amount of money ("80,000
    pesos") or of anything measured ("1 kilo", tagged QUANTITY, never reaches here)."""
    head = number.head
    return number.dep_ == "nummod" and head.tag_ == "NNS" and not _currency(head.lower_)


def is_money(amount: str) -> bool:
    """True for an amount written as money: a currency sign, code or name ("£250", "80,000
    pesos", "R350 000" is not: "R" alone is no code)."""
    words = re.findall(r"[A-Za-z]+", amount)
    return bool(re.search(r"[$£€¥₹]", amount)) or any(_currency(w) for w in words)


def _written_amounts(doc: Any) -> list[tuple[int, int]]:
    """Token ranges written as amounts that no amount entity covers: digits with an
    optional currency sign or code and thousands groups ("R350 000", "1 200 000", "25m").
    Not the day of a month ("1 march") and not a date or time the tagger found."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(doc):
        tok = doc[i]
        shaped = tok.pos_ == "NUM" or _AMOUNT_SHAPE.fullmatch(tok.text) is not None
        # "2500 euro" tagged a year: a currency beside it makes it money
        priced = (i + 1 < len(doc) and _currency(doc[i + 1].text)) or (i > 0 and doc[i - 1].is_currency)
        # "48k" tagged a date: a scale letter makes it an amount all the same
        priced = priced or _SCALED.fullmatch(tok.text) is not None
        if (
            not shaped
            or (tok.lower_ == "one" and tok.dep_ != "nummod")
            or tok.ent_type_ in _AMOUNTS
            or (tok.ent_type_ == "DATE" and not priced)
            or _WHOLE_MONTH.fullmatch(tok.head.text)
        ):
            i += 1
            continue
        start = i - 1 if i and doc[i - 1].is_currency else i
        end = i
        while end + 1 < len(doc) and _GROUP.fullmatch(doc[end + 1].text):
            end += 1  # "350 000", "25 million"
        out.append((start, end))
        i = end + 1
    return out


def _distance(a: Any, b: Any) -> int:
    """Edges between two tokens in the dependency tree."""
    up = {t.i: n for n, t in enumerate([a, *a.ancestors])}
    for n, t in enumerate([b, *b.ancestors]):
        if t.i in up:
            return n + up[t.i]
    return len(a.doc)


# the two legs of a trip: "fly out on 26 August and come back on the 30th"
_RETURN_LEG = re.compile(r"\b(?:back|home|return\w*|inbound)\b", re.IGNORECASE)
_OUTWARD_LEG = re.compile(r"\b(?:out|outbound|outward|leav\w*|depart\w*|set(?:ting)? off)\b", re.IGNORECASE)


def _trip_leg(question: str, sentence: str) -> str:
    """The clause of a sentence with two dated legs that the question asks for: the one
    that comes back for "what day do I fly home", the other for "when do we fly out"; the
    sentence as it is when it has one dated clause or the question names no leg."""
    back, out = bool(_RETURN_LEG.search(question)), bool(_OUTWARD_LEG.search(question))
    if back == out:
        return sentence
    legs = [
        p for p in re.split(r",\s*|;\s*|\s+(?:and|then)\s+", sentence)
        if date_in(p, 0.0, written_only=True) or said_day(p)
    ]  # fmt: skip
    if len(legs) < 2:
        return sentence
    if back:
        return next((p for p in legs if _RETURN_LEG.search(p)), sentence)
    return next((p for p in legs if _OUTWARD_LEG.search(p)), next((p for p in legs if not _RETURN_LEG.search(p)), sentence))


def _typed(
    kind: Wanted, question: str, sentence: str, said: float, lemmas: frozenset[str] = frozenset()
) -> str:
    if kind == "date":
        leg = _trip_leg(question, sentence)
        if leg != sentence:
            found = _typed(kind, question, leg, said, lemmas)
            other = date_in(sentence.replace(leg, ""), 0.0, written_only=True)
            # "come back on the 30th" of "fly out on 26 August": in the month of the other leg
            return (day_after(leg, other) or found) if is_said_day(found) and other else found
        written = date_in(sentence, said, written_only=True)
        if not written and (both := WEEKDAY_DAY.search(sentence)) and not ruled_out(sentence[: both.start()]):
            # "shifted to the Sunday, the 15th": the day of the month with its weekday, as
            # said; the month is the one of the date it replaces (`day_after`), never a guess
            # from the weekday alone
            return f"{both.group(1).title()} the {both.group(0).split()[-1]}"
        if asks_weekly(question) and not _WEEKDAY.search(written):
            # "so she's on weekends now" after "Rosa's picking up Sundays too": the last said
            said_days = [*_HABIT.finditer(sentence), *_WEEKDAYS_SAID.finditer(sentence), *_WEEKENDS.finditer(sentence)]
            return max(said_days, key=lambda m: (m.start(), len(m.group(0)))).group(0) if said_days else ""
        if not written and _WEEKDAY_ASK.search(question) and (
            days := _HABIT.search(sentence) or _WEEKDAYS_SAID.search(sentence)
        ):
            return days.group(0)  # "which day is Sunita off?" of "sunday is her off day"
        return written or date_in(sentence, said)
    asked = content_words(question)
    doc = parse(sentence).doc
    if kind == "time":
        return _time(doc, question)
    if kind == "place":
        noun, role = asked_noun(question), asked_role(question)
        # "which school ...?" is answered by a school's name of that kind, never by the town
        # it is in ("" when no kind of place is asked)
        kind_word = noun if noun in INSTITUTIONS else role if role in INSTITUTIONS else ""

        def named_place(parsed: Any) -> str:
            if kind_word and _WHERE_IS.search(question):
                # "where's the summer school?" asks where it is: the town, else its name
                return _place(parsed, asked) or _institution(parsed, asked, kind_word)
            return _institution(parsed, asked, kind_word) if kind_word else _place(parsed, asked)

        found = named_place(doc)
        if _WORK_ASK.search(question):  # "where does Valentina work?": "a hair salon in Lavapiés"
            found = _workplace(doc) or found
        if not found and _PLACE_KIND.search(question):
            found = _lower_case_place(doc, asked)  # "what suburb ...?" of "in brunswick"
        if not found and (cased := _true_cased(doc)) != sentence:
            # "going amsterdam instead": the tagger finds the town once it is capitalised
            found = named_place(parse(cased).doc)
        return found
    if kind == "person":
        doer = _doer(question, doc)
        if doer:
            return doer  # "who is selling it?" of "my mate jonno is selling his corsa"
        role = asked_role(question)
        # the noun is in the stored text, but not in this sentence: another sentence names it
        who = bool(re.search(r"\bwho\b", question, re.IGNORECASE))
        found = _person(doc, asked, role, strict=bool(role_words(role) & lemmas), who=who)
        if not found and _SUPPLIER_ASK.search(question):
            found = _supplier(doc, asked)  # "who am i getting wax from?" of "switching over to Greenleaf Soy Co."
        return found
    if kind == "number":
        if _HOW_OLD.search(question) and not _AGE_SAID.search(sentence):
            return ""  # "he's been with me six years" says how long, not how old he is
        return _number(doc, asked, question)
    return ""


_WHERE_IS = re.compile(r"^\W*(?:and\s+|so\s+)?where\s*(?:'s|s|is|was|are|'re|will\b.*\bbe)\b", re.IGNORECASE)
# "what time does my shift finish?" asks for the end of "10pm to 6am", "when do I start?" its start
_TIME_END = re.compile(r"\b(?:finish\w*|end\w*|until|till|over|done|get off|close\w*)\b", re.IGNORECASE)
_TIME_START = re.compile(r"\b(?:start\w*|begin\w*|open\w*)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}(?::\d{2}(?::\d{2})?|h\d{2}|(?:am|pm))", re.IGNORECASE)
_CLOCK_SAID = re.compile(
    r"(?<![£$€\d.,])\b\d{1,2}(?:[:.]\d{2}\s*(?:am|pm|a\.m\.|p\.m\.)?|\s*(?:am|pm|a\.m\.|p\.m\.))(?![\w%])", re.IGNORECASE
)
_TIME_RANGE = re.compile(r"\s*(?:-|–|\bto\b|\buntil\b|\btill\b)\s*", re.IGNORECASE)


_HOW_OLD = re.compile(r"\bhow old\b|\bwhat age\b", re.IGNORECASE)
_AGE_SAID = re.compile(
    r"\b(?:years?|yrs?|months?|weeks?) old\b|\by/?o\b|\bturn(?:s|ed|ing)?\b|\baged?\b|-year-old|\bbirthday\b"
    r"|(?:\bis|'s|\bwas|\bam)\s+(?:only\s+|just\s+|almost\s+|nearly\s+)?\d{1,3}\b(?![.,:]?\d|\s*(?:%|am\b|pm\b|kg|km|min|hour|day))",
    re.IGNORECASE,
)


def _time(doc: Any, question: str) -> str:
    """The clock time a sentence names ("10pm to 6am" before "night"); the end or the start
    of a range when the question asks for that."""
    named = [str(e.text) for e in doc.ents if e.label_ == "TIME"]
    times = [t for t in named if re.search(r"\d", t)]
    # "goal is under 3:45": a clock-shaped number the tagger left untagged or called a count
    times = times or [t.text for t in doc if _CLOCK.fullmatch(t.text)]
    # "now on at 2:15pm", "booked for 9.20": a clock time the tagger left untagged, in two tokens
    times = times or [m.group(0) for m in _CLOCK_SAID.finditer(doc.text)]
    # a part of the day ("evening") only when no clock time is said: "the 18:00 call in the
    # evening" is at 18:00, though the tagger took only "evening" for a time
    times = times or named
    if not times:
        return ""
    ends = [p for t in times for p in _TIME_RANGE.split(t) if p]
    if _TIME_END.search(question) and not _TIME_START.search(question):
        return ends[-1]
    if _TIME_START.search(question) and not _TIME_END.search(question):
        return ends[0]
    return times[0]


def span(question: str, text: str, said: float = 0.0) -> Span:
    """What in `text` answers `question`; `said` (unix seconds) dates relative expressions."""
    sentence = best_sentence(question, text)
    kind = wanted(question)
    key = asked_noun(question)
    if kind != "any" and key and key not in GENERAL_NOUNS and key not in lemmas(sentence):
        # "what budget i have for this trip": the sentence naming the budget, not the trip
        sentence = next((o for o in sentences(text) if key in lemmas(o)), sentence)
    # "name of the villa?" of "a villa near Chania called Villa Ampelos", "remind me hotel
    # name" of "... we go to Cork instead. Hotel is now the Imperial Hotel.": the name given
    # the thing, not a person's or the nearest town (where the text gives none, the value
    # is read by its kind as before)
    noun = named_thing(question) if kind == "person" else named_noun(question) if kind == "place" else ""
    if noun and (kind == "person" or noun in INSTITUTIONS) and (given := name_given(text, noun)):
        return Span(given, _clip(next((o for o in sentences(text) if given in o), sentence)), True)
    if kind != "any":
        words = frozenset(lemmas(text)) if kind == "person" else frozenset()
        found = _typed(kind, question, sentence, said, words)
        if kind == "date" and not date_in(sentence, said, written_only=True) and not asks_weekly(question):
            # "Now we depart on 2 May" beats "the wedding is in April" of the sentence before
            written = next((o for o in sentences(text) if date_in(o, said, written_only=True)), "")
            if written:
                sentence, found = written, date_in(written, said, written_only=True)
        if not found:  # another sentence of the same text may hold it, one on the same topic
            for other in sentences(text):
                if not _continues(question, other):
                    continue  # "... Also our daughter comes from Hamburg": another topic
                found = _typed(kind, question, other, said, words)
                if found:
                    sentence = other
                    break
        if found and kind == "number" and not is_money(found) and asks_money(question):
            # "how much did I set aside?" of "... the whole 96 miles ... We've each put aside
            # £1,200": the sentence with money, when the first holds a distance
            for other in sentences(text):
                money = _typed(kind, question, other, said, words)
                if money and is_money(money) and _continues(question, other):
                    sentence, found = other, money
                    break
        if found and re.search(r"\w", found):  # never a bare mark ("my physio = Wanjiru")
            return Span(found, _clip(sentence), True)
    if kind in ("date", "time"):
        # a day or an hour asked, and none said: no other kind of value answers it
        # ("Opening" of "Opening date stays the same")
        best = _clip(best_sentences(question, text))
        return Span(best, best, False)
    kind_of = (
        _kind_of(question, text)
        or _ordinal_of(question, text)
        or _allergy(question, text)
        or _job_of(question, text)
        or _value_of(question, text)
        or _named_kind(question, text)
    )
    if kind_of:
        return Span(kind_of, _clip(best_sentences(question, text)), True)
    best = _clip(best_sentences(question, text))
    return Span(best, best, False)


_KIND_OF = re.compile(
    r"\b(?:what|which|wat)\s+(?:(?:kind|type|sort)\s+of\s+\w+|breed)\s+(?:is|was|are)\s+\w+", re.IGNORECASE
)


# Openers by which a sentence turns to another topic
_NEW_TOPIC = re.compile(r"^\W*(?:also|btw|by the way|unrelated|anyway|oh and|p\.?s\.?|another thing)\b", re.I)


def _continues(question: str, sentence: str) -> bool:
    """True unless a sentence turns to another topic ("Also our daughter Sabine comes from
    Hamburg") without a word of the question."""
    return overlap(question, sentence) > 0 or not _NEW_TOPIC.search(sentence)


def _ordinal_of(question: str, text: str) -> str:
    """ "which anniversary is it?" of "our 40th wedding anniversary on 22 October" -> "40th":
    the ordinal the text puts on the noun the question picks with which/what."""
    noun = asked_noun(question)
    if not noun or noun in GENERAL_NOUNS:
        return ""
    for e in parse(text).doc.ents:
        if e.label_ == "ORDINAL" and noun in {e.root.head.lemma_.lower(), e.root.head.head.lemma_.lower()}:
            return str(e.text)
    return ""


def _kind_of(question: str, text: str) -> str:
    """The noun a text ties to the name the question asks the kind of: "what kind of dog is
    saga?" of "My greyhound Saga needs surgery" -> "greyhound"; "" when it ties none."""
    if not _KIND_OF.search(question):
        return ""
    named = set(re.findall(r"\w+", question.lower()))  # "saga": typed lower case in a chat
    asked = content_words(question)
    for tok in parse(text).doc:
        if tok.lower_ not in named or tok.pos_ != "PROPN":
            continue
        # "a beagle called Biscuit": through the naming verb to its noun
        named_by = tok.head.head if tok.head.lemma_ in ("call", "name") else tok.head
        for other in [*tok.children, tok.head, named_by]:
            if other.pos_ == "NOUN" and other.dep_ in ("compound", "appos", "nsubj", "attr", "ROOT", "dobj") and (
                other.lemma_.lower() not in asked and _linked(tok, other)
            ):
                return str(other.text)
    return ""


_ALLERGY_ASK = re.compile(r"\ballerg|\b(?:can'?t|cannot|can not|mustn'?t) (?:eat|have)\b", re.IGNORECASE)
_JOB_ASK = re.compile(
    r"\bwhat\s+(?:does|did)\s+(?:my\s+|our\s+)?(\w+)\s+do\b|\bwhat\s+(?:is|was|'s)\s+(?:my\s+|our\s+)?(\w+)'s\s+(?:job|work|profession)\b",
    re.IGNORECASE,
)


def _allergy(question: str, text: str) -> str:
    """What someone is allergic to, as the text says it: "allergic to sesame and kiwi",
    "a severe peanut allergy" -> "peanut"; from a sentence naming whoever the question
    names, when it names someone."""
    if not _ALLERGY_ASK.search(question):
        return ""
    named = {w.lower() for w in re.findall(r"\b[A-Z][a-z]+\b", question[1:])}
    found: list[tuple[bool, str]] = []
    for sentence in sentences(text):
        doc = parse(sentence).doc
        about = bool(named & {t.lower_ for t in doc})
        for tok in doc:
            if tok.lower_ == "allergic":
                for prep in (c for c in tok.children if c.lower_ == "to"):
                    for obj in (c for c in prep.children if c.dep_ == "pobj"):
                        found.append((about, str(doc[obj.left_edge.i : obj.right_edge.i + 1].text)))
            elif tok.lemma_.lower() == "allergy":
                kinds = [c for c in tok.children if c.dep_ in ("compound", "nmod")]
                # "an allergy to / against / for hazelnuts"
                kinds = kinds or [
                    o for p in tok.children if p.dep_ == "prep" for o in p.children if o.dep_ == "pobj"
                ]
                if kinds:
                    found.append((about, " ".join(c.text for c in kinds)))
    return max(found, key=lambda f: f[0])[1] if found else ""


def _job_of(question: str, text: str) -> str:
    """What a named person does for work, as the text says it: "what does Freja do?" of
    "My partner Freja is Swedish - she's a ceramicist ..." -> "a ceramicist"."""
    m = _JOB_ASK.search(question)
    name = (m.group(1) or m.group(2)).lower() if m else ""
    if not name or name in ("i", "you", "we", "he", "she", "they"):
        return ""
    for sentence in sentences(text):
        doc = parse(sentence).doc
        # the person by name, or by the noun for them ("my husband Jonas")
        at = next((t for t in doc if t.lower_ == name and t.pos_ in ("PROPN", "NOUN")), None)
        if at is None:
            continue
        who = {name, "he", "she", "they"} | {c.lower_ for c in at.children if c.dep_ == "appos"}
        for tok in doc[at.i :]:
            # "Freja is a ceramicist", "she's a ceramicist", "works as an engineer on the
            # harbour ferries": a person noun, with what it is of
            verb = tok.head.head if tok.head.lower_ == "as" else tok.head
            if tok.dep_ in ("attr", "pobj") and tok.pos_ == "NOUN" and (
                tok.head.lemma_ == "be" or (tok.head.lower_ == "as" and verb.lemma_ == "work")
            ):
                subject = next((c for c in verb.children if c.dep_ == "nsubj"), None)
                if subject is not None and subject.lower_ not in who:
                    continue
                end = max([tok.i] + [c.right_edge.i for c in tok.children if c.dep_ == "prep" and c.i > tok.i])
                return str(doc[tok.left_edge.i : end + 1].text)
    return ""


VALUE_WORDS = 4  # a value said of the asked noun is at most this long ("1,500 mg a day")


def _value_of(question: str, text: str) -> str:
    """The value the text says the asked noun has, read off the parse: "what is my FIDE
    rating?" of "my FIDE rating went up to 1688" -> "1688", of "My current FIDE rating is
    1640" -> "1640". Only a number or a name: "" for anything else."""
    noun = asked_noun(question)
    if not noun or noun in GENERAL_NOUNS:
        return ""
    doc = parse(text).doc
    for tok in doc:
        if tok.lemma_.lower() != noun or tok.dep_ not in ("nsubj", "nsubjpass"):
            continue
        verb = tok.head
        # the verb's own object ("is 1640"), or one behind its prepositions and particles
        # ("went up to 1688", "rose to 1,700")
        near = [c for c in verb.children if c.dep_ in ("attr", "dobj", "acomp", "oprd")]
        for c in verb.children:
            if c.dep_ in ("prt", "advmod", "prep"):
                preps = [c] if c.dep_ == "prep" else [g for g in c.children if g.dep_ == "prep"]
                near += [o for p in preps for o in p.children if o.dep_ == "pobj"]
        for value in near:
            words = doc[value.left_edge.i : value.right_edge.i + 1]
            if len(words) > VALUE_WORDS:  # "14B, right by the water butts": the value alone
                words = doc[value.left_edge.i : value.i + 1]
            numbered = any(t.like_num or any(ch.isdigit() for ch in t.text) for t in words)
            if (numbered or value.pos_ == "PROPN") and len(words) <= VALUE_WORDS:
                return str(words.text)
    return ""


def _named_kind(question: str, text: str) -> str:
    """The name the text gives the noun the question picks: "which bootcamp?" of "the
    Lighthouse Labs web development bootcamp" -> "Lighthouse Labs"; "what name ...?" of "the
    name Alba" -> "Alba"; "" when it gives none."""
    noun = asked_noun(question)
    if not noun or (noun in GENERAL_NOUNS and noun != "name"):
        return ""
    doc = parse(text).doc
    for tok in doc:
        if tok.lemma_.lower() != noun:
            continue
        if noun == "name":  # "the name Alba", "a name like Noor"
            after = next((t for t in doc[tok.i + 1 : tok.i + 3] if t.pos_ == "PROPN"), None)
            if after is not None:
                return _name_at(doc, after)
            continue
        names = [t for t in tok.subtree if t.i < tok.i and t.pos_ == "PROPN"]
        if names:
            return str(doc[names[0].i : names[-1].i + 1].text)
    return ""


def asks_named_detail(question: str) -> bool:
    """True for a question whose answer `span` reads by its own form, though it asks for no
    date, amount, name or place: an allergy, a named person's job, what kind of pet."""
    return bool(_ALLERGY_ASK.search(question) or _JOB_ASK.search(question) or _KIND_OF.search(question))

"""How a later message says that a value told before has changed.

Grounding answers with the newest value of a thing ("the appointment is now 19 May instead
of the 12th" after "dentist on 12 May"). These are the text-level readings it rests on: the
words by which people say a value changed (`changed`), that one thing took another's place
(`REPLACED`), which clause holds the value as it is now (`NEW_VALUE`, `as_it_is_now`), and
whether a later text still holds, drops or denies an old value. Which stored text is the
update of which is decided in `grounding.py`, by these and by when each was said.
"""

from __future__ import annotations

import re

from assistant.graph.answer_span import Span, sentences, span, wanted
from memory.understand import parse

# "Kwame is taking over", "Kenji is taking the job over"
_TAKEN_OVER = r"(?:take|takes|taking|took|taken) (?:(?:the|it|this|that|his|her|their)\s+(?:\w+\s+)?)?over"
# Words by which people say a value changed; the older value scores higher by sharing the
# question's words ("has to be submitted by 30 April") and would win without it.
_UPDATE = re.compile(
    r"\b(?:now|instead|anymore|any more|no longer|chang(?:e|ed|es|ing)|mov(?:ed|ing)|"
    r"postpon\w*|extended|extension|raised|lowered|resched\w*|updated?|shifted|"
    r"push(?:ed|ing)?(?: back)?|brought forward|actually|bump(?:ed|ing)?|cut|increased?|"
    r"decreased?|reduced?|(?:went|gone|goes|go) (?:up|down)|c[oa]me down|"
    r"these days|at the moment|currently|nowadays|right now|rn|atm|new|pulled out|"
    r"fell thr(?:ough|u)|switch(?:ed|ing)?|swap(?:ped|ping)?|replac(?:ed|ing)|renamed|"
    rf"{_TAKEN_OVER}|scrap(?:ped)?|quit|stretch(?:ed|ing)|"
    r"(?:had|have|'ve|has|'s) (?:got )?to move|"
    r"delayed|end(?:ed)? up|change of plans?|cancel(?:l?ed)?|no more|plot twist|voted|"
    r"(?:went|gone|going) for|decided|settled on|trimmed|knocked|from now on|as of|shunt(?:ed|ing)?|rebook(?:ed|ing)?|rearrang(?:ed|ing)|"
    r"stepp(?:ed|ing) (?:in|up|into)|handed in|rather than|negotiat\w*|(?:have|has|'ve) agreed to|after all|"
    r"(?:is|are|'s|was|were|been|called) off|(?:gone|went|going) bust|(?:closed|shut) down|revis(?:ed|ing)|"
    # "the Royal Oak have put the room up to £275", "knocked it down to £40", "put the whole
    # show back a week", "brought the exam forward"
    r"(?:put|puts|putting|marked|jacked|dropped|brought|set|shoved) (?:\w+\s+){0,3}?(?:up|down|back|forward))\b",
    re.IGNORECASE,
)
# Words by which people say one thing took another's place (more than "now" or "new")
REPLACED_WORDS = (
    r"instead|rather than|switch(?:ed|ing)?|replac(?:ed|ing)|skip(?:ping)?|scrap(?:ped)?|cancel\w*|"
    rf"fell thr(?:ough|u)|no longer|quit|pulled out|renamed|{_TAKEN_OVER}|"
    r"(?:gone|went|going) bust|(?:closed|shut) down|"
    # "we're not in Oerlikon any more", "we've parted ways with Fairclough", "the function
    # room is out of action"
    r"not\s[^.!?]{0,25}?any ?more|parted ways|out of action"
)
REPLACED = re.compile(rf"\b(?:{REPLACED_WORDS})\b", re.IGNORECASE)
# Words that mark the clause holding a value as it is now
NEW_VALUE = re.compile(
    r"\b(?:now|instead|new|switched|moved|changed|booked|rescheduled|postponed|pushed|going with|"
    rf"went with|gone with|{_TAKEN_OVER}|step(?:s|ped|ping)? (?:in|up)|stepping into|"
    r"replac\w*|extended|trimmed|knocked|bumped|raised|lowered|voted for|picked|chose|settled on|"
    r"decided on|hired|appointed|signed)\b",
    re.IGNORECASE,
)

# Words by which people say someone left a role ("Brigitte goes back to Norway", "she's gone
# off on mat leave", "Margot is leaving Pebblestone", "took a job in Dublin")
LEFT = re.compile(
    # (not "should i tell him or leave that to rebecca")
    r"\b(?:leav(?:e|es|ing)(?!\s+(?:it|that|this|them)\s+(?:to|with|for)\b)|left|quit(?:s|ting)?|retir(?:e|es|ed|ing)|resign(?:s|ed|ing)?|"
    r"(?:mov(?:e|es|ed|ing)|gone|went|go(?:es|ing)?) (?:on|away|back|abroad|off)|"
    r"mov(?:e|es|ed|ing) to|(?:took|taken|take|taking|got) (?:a|another|a new) (?:job|post|role)|"
    r"(?:mat|maternity|paternity|sick) leave|off sick|hand(?:ed|s|ing)? in (?:his|her|their|my) notice|"
    r"stepp(?:ed|ing) (?:down|back|away|aside)|step(?:s)? (?:down|back|away|aside)|stood down|standing down|"
    r"handed (?:me |us |it |him |her |them )?over|pass(?:ed|ing) (?:me |us |it |him |her |them )?(?:over|on) to|"
    r"reassigned|transferred|replac(?:ed|ing)|out for|no longer|not .{0,20}any ?more|"
    r"(?:has|have|'s) gone|moved on|jump(?:ed|ing)? ship)\b",
    re.IGNORECASE,
)


def changed(text: str) -> bool:
    """True when a text says a value changed, or asks for it as it is now."""
    return bool(_UPDATE.search(text))


def instead_of(text: str, old: str) -> str:
    """X of "X instead of <old>" or "X rather than <old>" ("Zakopane instead of Kraków",
    "begin on 17 February rather than the 3rd"): the words the parse joins to the word
    before "instead"; "" when the text does not say that."""
    doc = parse(text).doc
    day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d|:)", old)
    # the old value as said again: whole, or a date by its day ("the 3rd" of "3 February")
    again = re.compile(
        rf"{re.escape(old)}" + (rf"|(?:the\s+)?{day.group(1)}(?:st|nd|rd|th)\b" if day else ""), re.IGNORECASE
    )
    for tok in doc:
        if (
            (tok.lower_, doc[tok.i + 1].lower_ if tok.i + 1 < len(doc) else "") not in (("instead", "of"), ("rather", "than"))
            or tok.i == 0
            or tok.i + 2 >= len(doc)
        ):
            continue
        if not again.match(doc[tok.i + 2 :].text):
            continue
        before = doc[tok.i - 1]
        if before.pos_ in ("PROPN", "NOUN", "NUM"):
            words = [
                t for t in before.subtree if t.i < tok.i and t.dep_ not in ("det", "poss", "prep")
            ]
            first = min((t.i for t in words), default=before.i)
            return str(doc[first : before.i + 1].text)
    return ""


# Words by which a later text drops a value: those that replace it and those that say it is gone
_DROPPED = re.compile(rf"\b(?:{REPLACED_WORDS}|replacement|successor|not|n't|left|leaving|anymore|from)\b", re.IGNORECASE)


def negated(value: str, text: str) -> bool:
    """True when the text says the value is not it ("not 1 February anymore", "instead of
    Kraków", "no longer at Amazon")."""
    words = r"(?:\w+\s+){0,2}?"
    pattern = rf"\b(?:not|no longer|instead of|rather than|n't)\s+{words}{re.escape(value)}"
    return bool(re.search(pattern, text, re.IGNORECASE))


def changed_here(value: str, text: str) -> bool:
    """True when the sentence of text holding the value is the one that says it changed."""
    return any(value.lower() in s.lower() and changed(s) for s in sentences(text))


_STEPPING_IN = re.compile(
    r"\b(?:stepp(?:ed|ing) in(?:to)?|steps? in(?:to)?|stood in|standing in|fill(?:s|ed|ing)? in)\b", re.IGNORECASE
)
_CAPITAL = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")  # a name inside a clause, not its first word
FROM_REACH = 24  # characters after "from" that name what it drops ("moved from the Granary")


def still_holds(value: str, text: str) -> bool:
    """True when a later text names the old value without dropping it ("Paz and I pushed the
    Camino start" keeps Paz; "Zakopane instead of Kraków" drops Kraków): it does not
    replace that value, whatever else it changes."""
    words = value.split()
    named = all(w[:1].isupper() for w in words) and not any(ch.isdigit() for ch in value)
    if not named:  # a date or amount only whole, dropped by any word that drops
        return value.lower() in text.lower() and not _DROPPED.search(text)

    def names_it(part: str) -> bool:  # a name by any of its words ("Paz" of "Paz Errázuriz")
        return any(re.search(rf"\b{re.escape(w)}\b", part, re.IGNORECASE) for w in words if len(w) > 2)

    parts = clauses(text)
    # someone said to leave a role is dropped from it: "Hedda's stepped down ..., and Obinna
    # Eze's captain now"; not "Mum's operation has been moved to 23 June, Dr. Albers had a
    # conflict"
    left = any(LEFT.search(p) and names_it(p) for p in parts)
    # a text that says someone else left is about their place: "Pemberton's putting the rent
    # up ... And Gareth's left Salon Direct, a woman called Nadia Qureshi has taken over our
    # account" keeps Pemberton
    someone_else_left = any(LEFT.search(p) and _CAPITAL.search(p) and not names_it(p) for p in parts)

    def drops_it(part: str) -> bool:
        # ("from" drops a name only when it comes before it: "moved from the Granary", not
        # "Pemberton's putting the rent up to £1,975 from April")
        found = [
            m for m in _DROPPED.finditer(part)
            if m.group(0).lower() != "from" or names_it(part[m.end() : m.end() + FROM_REACH])
        ]  # fmt: skip
        if names_it(part):
            return bool(found)
        if _STEPPING_IN.search(part):
            return True  # "Keiko is stepping in as head baker": someone else holds it now
        return bool(found) and not someone_else_left

    return names_it(text) and not any(drops_it(p) for p in parts) and not left


# words that say a value is gone, in the clause that holds the old one
_GONE = re.compile(
    r"\b(?:cancel\w*|scrap(?:ped)?|fell thr(?:ough|u)|pulled out|no longer|skip(?:ped|ping)?|off|parted ways with)\b",
    re.IGNORECASE,
)


def dropped(value: str, text: str) -> bool:
    """True when the text says the value is gone right where it names it ("we cancelled Gion
    Hotel Sakura", "scrapped the Friday slot"): the old value, never the new one."""
    return bool(
        re.search(rf"{_GONE.pattern}\s+(?:(?:the|our|my|their)\s+)?{re.escape(value)}", text, re.IGNORECASE)
    )


def clauses(text: str) -> list[str]:
    """A text cut where one statement may end and another begin: sentences, commas,
    brackets, before "so" or "but" ("Darren hurt his back | so his nephew Kieran ..."), and
    before "and" that opens a clause of its own ("Annette's stepping down | and Kwame ...")."""
    return [
        p
        for p in re.split(r"(?<=[.!?;])\s+|,\s+|[()]|\s+(?=so\b|but\b|and\s+(?:[A-Z]\w*\s+){1,2}(?:is|are|'s|has|will)\b)", text)
        if p.strip()
    ]


def as_it_is_now(question: str, text: str, said: float, found: Span) -> Span:
    """In a text that says a thing was replaced, the value of the clause that says what it
    is now ("the Lisbon school got cancelled, so we're doing the one in Ljubljana instead"),
    where the reader found one in another clause; else what it found."""
    if not found.typed or wanted(question) == "any":
        return found
    if negated(found.text, text) and (other := instead_of(text, found.text)):
        # "the classes are at the old library on Harbour Road instead of Fenwick Street"
        return Span(other, found.sentence, True)
    # (asked as it is now, a text that says it changed is read so too: "The Granary
    # double-booked us, so we've moved to Mill House Barn")
    replaced = bool(REPLACED.search(text))
    if not (replaced or (changed(question) and changed(text))):
        return found
    person = wanted(question) == "person"
    fresh = [
        p
        for p in clauses(text)
        if NEW_VALUE.search(p)
        and not _GONE.search(p)
        and not (person and LEFT.search(p))  # "Hedda's stepped down because of her new job"
    ]
    if not fresh or any(found.text in p for p in fresh):
        return found
    # ... a clause that says so, not the rest of a name cut at its comma ("living in
    # Sarasota, Florida now")
    fresh = [p for p in fresh if replaced or any(t.pos_ in ("VERB", "AUX") for t in parse(p).doc)]
    for part in fresh:
        now = span(question, part, said)
        if now.typed and now.text != found.text:
            return now
    return found

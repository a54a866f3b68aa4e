"""A role asked for in other words than the user told it, written the way it was told.

- By its initials where the user spelled it out, or the other way round: "my hod's name?"
  after "My head of department, Mrs Folake Adebayo, ..." asks for the head of department;
  "who's my teaching assistant" after "My TA is Mrs Joy Mensah" asks for the TA.
- By what the person does where the user named the role: "who's curating" after "The curator
  is Fenella Marsh" asks for the curator.

The rules that tie a name to its role word then read it. Only the asked role is rewritten,
and only by a text that holds the other form: two words that happen to start with "t" and
"a" elsewhere are no TA.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from spacy.lang.en.stop_words import STOP_WORDS

from memory.understand import parse

SHORTEST, LONGEST = 2, 5  # letters in the initials of a role
NAME_WITHIN = 4  # words after the spelled-out role that hold the name of its person
# words that join the spelled-out form and keep their initial ("head of department")
_JOINING = frozenset(["of", "and", "for", "in"])
_WORD = re.compile(r"[A-Za-z]+")


def spelled_as_told(question: str, role: str, texts: Sequence[str]) -> str:
    """The question with its asked `role` written as the texts write it, or unchanged."""
    role = role.lower()
    if not role:
        return question
    told_words = {w.lower() for t in texts for w in _WORD.findall(t)}
    if SHORTEST <= len(role) <= LONGEST and role.isalpha() and role not in told_words:
        for text in texts:
            phrase = _spelled_out(role, text)
            if phrase:
                return re.sub(
                    rf"\b{re.escape(role)}\b", phrase, question, count=1, flags=re.IGNORECASE
                )
    # "teaching assistant" asked, "TA" told: the phrase ending in the role, by its initials
    words = _WORD.findall(question)
    lowered = [w.lower() for w in words]
    if role in lowered:
        end = lowered.index(role)
        for start in range(max(0, end - LONGEST + 1), end):
            asked = words[start : end + 1]
            if any(w.lower() in STOP_WORDS for w in asked):
                continue  # "my landlord" is no "ML"
            initials = "".join(w[0] for w in asked).upper()
            if any(re.search(rf"\b{initials}\b", t) for t in texts):
                said = r"\s+".join(map(re.escape, asked))
                return re.sub(said, initials, question, count=1, flags=re.IGNORECASE)
    return question


def _spelled_out(initials: str, text: str) -> str:
    """The words of text whose first letters spell the initials ("head of department" for
    "hod"), each a content word of three letters or more but for a joining word inside."""
    words = _WORD.findall(text)
    n = len(initials)
    for i in range(len(words) - n + 1):
        phrase = words[i : i + n]
        if not any(w[0].isupper() for w in words[i + n : i + n + NAME_WITHIN]):
            continue  # a role is told with the name it belongs to: "... department, Mrs Adebayo"
        if "".join(w[0] for w in phrase).lower() != initials:
            continue
        ends = (phrase[0], phrase[-1])
        inner = phrase[1:-1]
        if any(len(w) < 3 or w.lower() in STOP_WORDS for w in ends):
            continue  # "the agent" is no TA
        if all(
            w.lower() in _JOINING or (len(w) >= 3 and w.lower() not in STOP_WORDS) for w in inner
        ):
            return " ".join(w.lower() for w in phrase)
    return ""


# "who's curating", "who owns the house": the question word, and the -ing word after a form of
# "be" or the verb said of one ("owns", "runs")
_WHO_DOES = re.compile(r"^\s*(?:and\s+)?who(?:(?:'s|s| is| are)\s+(\w+ing)|\s+(\w+s))\b", re.IGNORECASE)
_AGENT_ENDINGS = ("or", "er", "r", "ist")


def doer_as_told(question: str, texts: Sequence[str]) -> str:
    """ "who's curating" -> "who's the curator" when a text names "the curator", "who owns the
    house" -> "who's the owner of the house" when one names "the owner": the noun for the one
    who does it, as the texts have it; the question unchanged when none does."""
    m = _WHO_DOES.match(question)
    if m is None:
        return question
    at = 1 if m.group(1) else 2
    said = m.group(at).lower()
    verb = next((t.lemma_.lower() for t in parse(question).doc if t.lower_ == said and t.pos_ == "VERB"), "")
    if len(verb) < SHORTEST + (2 if at == 1 else 1):  # ("own" of "owns" is short, and clear)
        return question
    stems = {verb, verb[:-1]} if verb.endswith("e") else {verb}
    nouns = {stem + end for stem in stems for end in _AGENT_ENDINGS}
    told = {w.lower() for t in texts for w in _WORD.findall(t)}
    noun = next((w for w in sorted(nouns) if w in told), "")
    if not noun:
        return question
    if at == 2:  # "who owns the house" -> "who's the owner of the house"
        return question[: m.start(2)].rstrip() + "'s the " + noun + " of" + question[m.end(2) :]
    return question[: m.start(1)] + "the " + noun + question[m.end(1) :]

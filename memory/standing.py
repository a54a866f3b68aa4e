"""Standing requests read from the parse: answer form and language, constraints, and names
said informally ("Priya here", "it's Lucia", "everyone calls me Dec").

spaCy's small model often tags a sentence-opening imperative as a noun ("Never schedule
...", "Keep your answers brief"), so these rules match on lower-cased words and lemmas with
spaCy's Matcher instead of on part-of-speech tags; the named entities and noun chunks still
come from the parse. Only the cue words are listed here, never whole sentences.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from memory.types import Candidate

_GREETINGS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "yo",
        "morning",
        "evening",
        "afternoon",
        "oh",
        "ok",
        "okay",
        "thanks",
        "so",
        "well",
        "all",
        "everyone",
        "there",
        "folks",
    ]
)
_LANGS = frozenset(
    [
        "english",
        "spanish",
        "french",
        "german",
        "italian",
        "portuguese",
        "dutch",
        "swedish",
        "norwegian",
        "danish",
        "finnish",
        "polish",
        "russian",
        "ukrainian",
        "greek",
        "turkish",
        "arabic",
        "hebrew",
        "hindi",
        "urdu",
        "bengali",
        "tamil",
        "japanese",
        "chinese",
        "mandarin",
        "cantonese",
        "korean",
        "vietnamese",
        "thai",
        "indonesian",
        "malay",
        "tagalog",
        "swahili",
    ]
)
_SAY = ["answer", "answers", "reply", "replies", "respond", "write", "talk", "speak", "explain",
        "text", "message", "chat", "communicate"]  # fmt: skip
_ANSWERS = ["answers", "answer", "replies", "reply", "responses", "response", "explanations",
            "summaries", "messages"]  # fmt: skip
_LENGTH = frozenset(
    ["short", "shorter", "brief", "briefer", "concise", "long", "longer", "detailed", "thorough"]
)
_STYLE = frozenset(["simple", "plain", "casual", "formal", "friendly", "technical", "informal"])
_FORM = sorted(_LENGTH | _STYLE)
_UNITS = ["paragraph", "paragraphs", "sentence", "sentences", "words", "lines", "page"]
_GOOD = ["better", "best", "fine", "easier", "ok", "okay", "good", "great"]
_RULE_CUES = ["never", "avoid", "stop", "only", "no", "don't", "dont"]
_DIETS = ["vegetarian", "vegan", "pescatarian", "halal", "kosher", "teetotal"]
_DAY_PARTS = frozenset(
    ["morning", "mornings", "afternoon", "afternoons", "evening", "evenings", "night", "nights"]
)
_NOT_NAMES = frozenset(
    [
        "I",
        "Me",
        "You",
        "It",
        "This",
        "That",
        "Here",
        "There",
        "Sorry",
        "Fine",
        "Good",
        "Great",
        "Back",
        "Home",
        "Done",
    ]
)


@lru_cache(maxsize=1)
def _matcher() -> Any:
    from spacy.matcher import Matcher

    from memory.understand import pipeline

    m = Matcher(pipeline().vocab)
    title = {"IS_TITLE": True, "IS_ALPHA": True}
    m.add("name_here", [[{**title, "OP": "{1,2}"}, {"LOWER": "here"}]])
    m.add("name_is", [[{"LOWER": {"IN": ["it", "this", "name"]}}, {"LOWER": {"IN": ["'s", "is", "’s"]}},
                       {**title, "OP": "{1,2}"}]])  # fmt: skip
    m.add("name_call", [[{"LEMMA": "call"}, {"LOWER": "me"}, {**title, "OP": "{1,2}"}]])
    m.add("lang_in", [[{"LOWER": {"IN": _SAY}}, {"OP": "{0,3}"}, {"LOWER": "in"},
                       {"LOWER": {"IN": sorted(_LANGS)}}]])  # fmt: skip
    m.add("lang_good", [[{"LOWER": {"IN": sorted(_LANGS)}}, {"LEMMA": {"IN": ["work", "be"]}},
                         {"OP": "?"}, {"LOWER": {"IN": _GOOD}}]])  # fmt: skip
    m.add("form_answers", [[{"LEMMA": {"IN": _FORM}}, {"LOWER": {"IN": _ANSWERS}}]])
    m.add("keep_form", [[{"LEMMA": {"IN": ["keep", "make"]}}, {"OP": "{0,2}"},
                         {"LOWER": {"IN": [*_ANSWERS, "it", "them", "things"]}}, {"LEMMA": {"IN": _FORM}}]])  # fmt: skip
    m.add("answers_under", [[{"LOWER": {"IN": _ANSWERS}}, {"LOWER": {"IN": ["under", "below", "within"]}},
                             {"OP": "{0,2}"}, {"LOWER": {"IN": _UNITS}}]])  # fmt: skip
    m.add("in_terms", [[{"LOWER": {"IN": _SAY}}, {"OP": "{0,3}"}, {"LOWER": "in"}, {"LEMMA": {"IN": _FORM}},
                        {"LOWER": {"IN": ["terms", "language", "english", "words"]}}]])  # fmt: skip
    m.add("bullets", [[{"LOWER": "bullet"}, {"LOWER": {"IN": ["points", "lists", "point"]}},
                       {"LEMMA": {"IN": ["work", "be"]}}, {"LOWER": {"IN": _GOOD}}]])  # fmt: skip
    m.add(
        "diet", [[{"LOWER": "i"}, {"LOWER": {"IN": ["'m", "am", "m"]}}, {"LOWER": {"IN": _DIETS}}]]
    )
    m.add("cannot_eat", [[{"LOWER": "i"}, {"LOWER": {"IN": ["ca", "can", "do", "must"]}}, {"LOWER": {"IN": ["n't", "not"]}},
                          {"LEMMA": {"IN": ["eat", "drink", "have"]}}]])  # fmt: skip
    return m


def _rest(span: Any, start: int) -> str:
    """The span's text from token index `start` to the first clause break."""
    end = start
    for tok in span.doc[start : span.end]:
        if tok.is_punct or tok.lower_ in ("please", "thanks", "so"):
            break
        end = tok.i + 1
    return str(span.doc[start:end].text)


def _first_word(span: Any) -> Any:
    """The sentence's first word past greetings, fillers and commas: an imperative's verb
    when there is one, whatever tag the tagger gave it."""
    for tok in span:
        if tok.is_punct or tok.lower_ in ("please", "oh", "and", "also", "just", "so"):
            continue
        return tok
    return None


def _name(span: Any, toks: list[Any]) -> str:
    words = [t for t in toks if t.text not in _NOT_NAMES and t.lower_ not in _GREETINGS]
    if not words or any(
        t.ent_type_ in ("GPE", "LOC", "DATE", "TIME", "NORP", "LANGUAGE") for t in words
    ):
        return ""
    return " ".join(t.text for t in words)


def standing(span: Any) -> list[Candidate]:
    """Preferences, constraints and informal names in one parsed sentence."""
    out: list[Candidate] = []
    doc = span.doc
    # "could you write in Swedish?" asks for something; "do you answer in French?" asks about it
    opener = _first_word(span)
    question = span[-1].text == "?" and (
        opener is None or opener.lower_ not in ("could", "would", "can", "will")
    )
    for key, start, end in sorted(
        _matcher()(doc[span.start : span.end], as_spans=False), key=lambda m: m[1]
    ):
        label = doc.vocab.strings[key]
        s, e = span.start + start, span.start + end
        if label == "name_here":
            toks = [t for t in doc[s : e - 1]]
            after = doc[e] if e < len(doc) else None
            at_start = all(t.is_punct or t.lower_ in _GREETINGS for t in doc[span.start : s])
            if at_start and (after is None or after.is_punct) and (name := _name(span, toks)):
                out.append(
                    Candidate(
                        "identity", f"User's name is {name}", 0.9, "identity:name", "name", name
                    )
                )
        elif label in ("name_is", "name_call"):
            toks = [t for t in doc[s + 2 : e]]
            after = doc[e] if e < len(doc) else None
            opening = all(t.is_punct or t.lower_ in _GREETINGS or t.lower_ in ("the", "my")
                          for t in doc[span.start : s])  # fmt: skip
            ok = label == "name_call" or opening
            ends = after is None or after.is_punct or after.lower_ in ("though", "instead", "now")
            if ok and ends and (name := _name(span, toks)):
                out.append(Candidate("identity", f"User's name is {name}", 0.95, "identity:name", "name", name))  # fmt: skip
        elif label in ("lang_in", "lang_good") and not question:
            lang = next(t for t in doc[s:e] if t.lower_ in _LANGS).text.capitalize()
            out.append(Candidate("preference", f"User prefers answers in {lang}", 0.9, "preference:language",
                                 "preference", lang, "language"))  # fmt: skip
        elif (
            label in ("form_answers", "keep_form", "answers_under", "in_terms", "bullets")
            and not question
        ):
            form = next((t for t in doc[s:e] if t.lemma_.lower() in _LENGTH | _STYLE), None)
            if label == "answers_under":
                value = doc[s:e].text
                relation = "length"
            elif label == "bullets":
                value, relation = "bullet points", "style"
            elif label == "in_terms":
                value = doc[e - 2 : e].text
                relation = "style"
            else:
                assert form is not None
                word = form.lemma_.lower()
                value = f"{word} answers"
                relation = "length" if word in _LENGTH else "style"
            out.append(Candidate("preference", f"User prefers {value}", 0.9, f"preference:{relation}",
                                 "preference", value, relation))  # fmt: skip
        elif label == "diet":
            word = doc[e - 1].lower_
            out.append(
                Candidate(
                    "constraint", doc[s:e].text, 0.9, "constraint", "other", word, "constraint"
                )
            )
        elif label == "cannot_eat":
            thing = _rest(span, e)
            if thing:
                out.append(Candidate("constraint", f"{doc[s:e].text} {thing}", 0.9, "constraint",
                                     "other", thing, "constraint"))  # fmt: skip
    out += _rule(span, question)
    return out


def _rule(span: Any, question: bool) -> list[Candidate]:
    """A standing rule said as an imperative: "Never book ...", "Avoid scheduling ...",
    "Only suggest ...", "Stop using ...", "No calls on weekends". The first word is taken as
    the verb whatever its tag; "never mind" retracts and sets no rule."""
    first = _first_word(span)
    if first is None or question or first.lower_ not in _RULE_CUES:
        return []
    doc = span.doc
    nxt = doc[first.i + 1] if first.i + 1 < span.end else None
    if nxt is not None and nxt.lower_ in ("mind", "problem", "worries", "thanks", "way"):
        return []  # "never mind", "no problem", "no worries", "no thanks", "no way"
    i = first.i + 1
    # skip the rule's own verbs: "don't ever call me", "stop using", "avoid scheduling"
    while i < span.end and (doc[i].lower_ in ("ever", "n't", "not", "me", "you") or doc[i].tag_ in ("VB", "VBG", "VBP")
                            or doc[i].lower_.endswith("ing")):  # fmt: skip
        i += 1
    times = [e for e in span.ents if e.label_ in ("DATE", "TIME")]
    value = times[0].text if times else _rest(span, i)
    if times and times[0].end < span.end and doc[times[0].end].lower_ in _DAY_PARTS:
        value = f"{value} {doc[times[0].end].text}"  # "Sunday mornings": the ent stops at the day
    if (
        times
        and times[0].start > span.start
        and doc[times[0].start - 1].lower_ in ("before", "after", "until", "past")
    ):
        value = f"{doc[times[0].start - 1].text} {value}"  # the rule's direction: "before 10am"
    if not value:
        return []
    text = _rest(span, first.i) if first.lower_ != "no" else _rest(span, first.i)
    text = text[:1].upper() + text[1:]
    return [Candidate("constraint", text, 0.9, "constraint", "other", value, "constraint")]

"""Which typed profile attribute a question asks for ("What is my name?" -> name).

The profile keeps typed facts (memory.types.Fact: attribute and value). A question about
one of the user's own attributes is answered from that slot directly, not by scoring
every stored sentence against the question. The question's form decides, read from
memory.understand's spaCy parse (the one parse of a turn the goal and fact rules read):

- a noun the user owns, asked with a question word: "What is my name?", "What's my job?";
- a verb with "I" as its subject, asked with a question word: "Where do I live?",
  "Where do I work?", "Who do I work for?", "What am I called?", "What do I do (for a
  living)?"; also inside "Do you remember where I work?".

The words below name the attributes of the profile's schema, not answers: they say which
slot a question is about.
"""

from __future__ import annotations

from typing import Any, Literal

from memory.understand import WORKPLACES, parse

Attribute = Literal["name", "place", "origin", "employer", "role"]

# A noun the user owns ("my job") names the slot it asks for.
_OWNED: dict[str, Attribute] = {
    "name": "name",
    "job": "role",
    "title": "role",  # "my job title"
    "role": "role",
    "profession": "role",
    "occupation": "role",
    "trade": "role",
    "career": "role",
    "employer": "employer",
    "company": "employer",
    "workplace": "employer",
    "internship": "employer",  # "where's my internship?" asks where it is held
    "placement": "employer",
    "home": "place",
    "address": "place",
    "hometown": "origin",
}
# "which city do I ...": a place asked for by its kind
_PLACE_KINDS = frozenset(["city", "town", "country", "village", "place", "area"])
_WH = frozenset(["what", "where", "who", "whom", "which", "how"])
_ASKING_MODALS = frozenset(["should", "could", "can", "would", "might", "must", "shall"])
_LIVE = frozenset(["live", "stay", "base", "reside"])
# "where am I from?", "which city do I come from?", "where did I grow up?", "where was I born?"
_FROM = frozenset(["be", "come", "hail"])
_CHILDHOOD = frozenset(["grow", "bear", "raise"])
_WORK_VERBS = frozenset(["work", "join", "start", "intern", "teach"])
QUESTION_WORD_WITHIN = 4  # a question without its mark has its question word this early


def _wh_children(verb: Any) -> set[str]:
    """Question words hanging on a verb, directly or through its preposition ("who ... for")."""
    out = {c.lower_ for c in verb.children if c.lower_ in _WH}
    for c in verb.children:
        if c.dep_ == "prep":
            out |= {g.lower_ for g in c.children if g.lower_ in _WH}
            # "Which city do I live in?": "which" on the stranded preposition's object
            out |= {
                d.lower_
                for g in c.children
                if g.dep_ == "pobj"
                for d in g.children
                if d.lower_ in _WH and d.dep_ == "det"
            }
        if c.dep_ in ("dobj", "pobj", "npadvmod", "attr"):
            out |= {g.lower_ for g in c.children if g.lower_ in _WH and g.dep_ == "det"}
    if verb.doc[0].lower_ in ("who", "whom") and verb.dep_ == "ROOT":
        out.add("who")  # "Who do I work for?": the parse may hang "who" on the preposition
    return out


def _has_prep(verb: Any, word: str) -> bool:
    """True when the verb has the preposition or particle ("come from", "grow up")."""
    return any(c.lower_ == word and c.dep_ in ("prep", "prt", "advmod") for c in verb.children)


def _has_subject_i(verb: Any) -> bool:
    """True when "I" is the verb's subject, or the subject of the verb it completes ("did
    I end up joining": "joining" completes "end")."""
    subject = any(c.dep_ in ("nsubj", "nsubjpass") and c.lower_ == "i" for c in verb.children)
    return subject or (verb.dep_ == "xcomp" and verb.head.i != verb.i and _has_subject_i(verb.head))


def _verb_attribute(verb: Any) -> Attribute | None:
    wh = _wh_children(verb)
    if not wh or not _has_subject_i(verb):
        return None
    if any(c.dep_ == "aux" and c.lower_ in _ASKING_MODALS for c in verb.children):
        return None  # "What should I do?" asks for advice, not for a stored fact
    lemma = verb.lemma_.lower()
    kinds = {
        g.lemma_.lower()
        for c in verb.children
        for g in [c, *c.children]
        if g.lemma_.lower() in _PLACE_KINDS
    }
    if lemma == "call" and "what" in wh:
        return "name"
    if lemma in _FROM and ("where" in wh or kinds) and _has_prep(verb, "from"):
        return "origin"
    if lemma in _CHILDHOOD and ("where" in wh or kinds) and (lemma != "grow" or _has_prep(verb, "up")):
        return "origin"
    if lemma in _LIVE and ("where" in wh or kinds):
        return "place"
    if lemma == "work" and ("where" in wh or "who" in wh or "which" in wh):
        return "place" if kinds else "employer"
    if lemma == "do" and "what" in wh:
        # "What do I do?" / "... for work" / "... for a living"; not "what do I do about X"
        others = [
            c
            for c in verb.children
            if c.dep_ not in ("aux", "nsubj", "dobj", "punct", "advmod", "npadvmod")
        ]
        for_work = all(
            c.dep_ == "prep"
            and c.lower_ == "for"
            and any(g.lemma_.lower() in ("work", "living", "job") for g in c.children)
            for c in others
        )
        return "role" if for_work else None
    if kinds and "which" in wh:
        return "place"  # "Which city do I teach in?"
    return None


def asked_attribute(question: str) -> Attribute | None:
    """The profile attribute a question asks the user's own value of; None for any other."""
    doc = parse(question).doc
    # "remind me where I work", "and where am i working these days": the question word
    # need not come first
    if not question.strip().endswith("?") and not any(t.lower_ in _WH for t in doc[:QUESTION_WORD_WITHIN]):
        return None
    for tok in doc:
        if (
            tok.pos_ == "NOUN"
            and tok.lemma_.lower() in _OWNED
            and any(c.lower_ == "my" for c in tok.children)
            and any(t.lower_ in _WH for t in doc)
            # "my running buddys name" (the apostrophe not typed) is the buddy's name
            and not any(
                c.dep_ in ("compound", "nmod")
                and c.pos_ in ("NOUN", "PROPN")
                and c.lemma_.lower() not in _OWNED  # "my job title" is still the job
                for c in tok.children
            )
        ):
            owned = _OWNED[tok.lemma_.lower()]
            # "where is my new job?" asks where it is held: the employer
            return "employer" if owned == "role" and any(t.lower_ == "where" for t in doc) else owned
    for tok in doc:
        if tok.pos_ in ("VERB", "AUX"):
            found = _verb_attribute(tok)
            if found is not None:
                return found
    # "Current employer?", "home address?": a verbless question naming the slot alone (not
    # "gf name", "Daughter's name": someone else's)
    if question.strip().endswith("?") and not any(t.pos_ in ("VERB", "AUX") for t in doc):
        root = next((t for t in doc if t.dep_ == "ROOT"), None)
        if (
            root is not None
            and root.pos_ == "NOUN"
            and root.lemma_.lower() in _OWNED
            and root.lemma_.lower() != "name"
            and all(c.dep_ in ("amod", "punct") or c.lower_ in ("my", "the") for c in root.children)
        ):
            return _OWNED[root.lemma_.lower()]
    # "which hospital did I say I work at?", "which company im joining": a workplace asked
    # for by its kind, of a verb of working the user is the subject of
    kind_asked = any(
        (is_workplace(t) or t.lemma_.lower() in ("employer", "organisation", "organization"))
        and any(c.lower_ in ("which", "what") and c.dep_ == "det" for c in t.children)
        for t in doc
    )
    if kind_asked and any(
        v.pos_ in ("VERB", "AUX") and v.lemma_.lower() in _WORK_VERBS and _has_subject_i(v)
        for v in doc
    ):
        return "employer"
    return None


# Verbs that say how the user feels or what they want, not what they do for a living.
_NOT_WORK = frozenset(
    [
        "be",
        "have",
        "want",
        "need",
        "like",
        "love",
        "hate",
        "hope",
        "think",
        "feel",
        "know",
        "live",
        "stay",
        "move",
        "try",
        "plan",
        "wish",
        "prefer",
        "enjoy",
        "mean",
        "guess",
        "remember",
        "forget",
        "usually",
        "quit",  # "I quit the translation agency": the job it names is over
        "leave",
        "lose",
    ]
)
_AMOUNTS = frozenset(["DATE", "TIME", "CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL"])
_WORK_PREPS = frozenset(["at", "for", "as", "in"])


def _is_thing(tok: Any) -> bool:
    return tok.pos_ in ("NOUN", "PROPN") and tok.ent_type_ not in _AMOUNTS


def _said_by_user(verb: Any) -> bool:
    """True when the verb's subject is "I" or "we", its own or, for the second verb of a
    pair, the first one's ("I have sold the house and moved into a unit in Norwood")."""
    if any(c.dep_ == "nsubj" and c.lower_ in ("i", "we") for c in verb.children):
        return True
    has_subject = any(c.dep_ in ("nsubj", "nsubjpass") for c in verb.children)
    return verb.dep_ == "conj" and not has_subject and _said_by_user(verb.head)


# Verbs by which people say they took a new job: "got a job at the campus library", "I
# start at Musgrave next month", "joined Brightline"
_NEW_JOB_VERBS = frozenset(["get", "land", "accept", "take", "start", "join"])
_JOB_NOUNS = frozenset(["job", "position", "role", "offer", "post"])


def _took_job(verb: Any) -> bool:
    """True for a verb by which the user says they took a job somewhere: a job word as its
    object and a named or working place after "at"/"with" in what it governs, or "start at"
    / "join" a named place."""
    lemma = verb.lemma_.lower()
    if lemma not in _NEW_JOB_VERBS:
        return False
    places = [
        g
        for t in verb.subtree
        if t.dep_ == "prep" and t.lower_ in ("at", "with", "for")
        for g in t.children
        if g.dep_ == "pobj" and g.pos_ in ("NOUN", "PROPN")
    ]
    named = [g for g in places if g.pos_ == "PROPN" or is_workplace(g)]
    # "a job at the campus library": any place of a job word
    job = any(c.dep_ == "dobj" and c.lemma_.lower() in _JOB_NOUNS for c in verb.children)
    joined = lemma in ("start", "join") and (
        named or any(c.dep_ == "dobj" and c.pos_ == "PROPN" for c in verb.children)
    )
    return bool(job and places) or bool(joined)


def says_attribute(sentence: str, attribute: Attribute) -> bool:
    """True when the user's sentence states the attribute about themselves: "I drive for a
    delivery company" (employer, role), "we now live in Tema" (place), "I'm Oskar" (name),
    "got a job at the campus library now" (employer)."""
    doc = parse(sentence).doc
    for verb in doc:
        # (a chat drops the "I" of a new job: "got a job at the campus library now")
        dropped = verb.dep_ == "ROOT" and not any(c.dep_ in ("nsubj", "nsubjpass") for c in verb.children)
        if attribute == "employer" and (_said_by_user(verb) or dropped) and _took_job(verb):
            return True
        if verb.pos_ not in ("VERB", "AUX") or not _said_by_user(verb):
            continue
        if any(c.dep_ == "neg" for c in verb.children):
            continue
        lemma = verb.lemma_.lower()
        if attribute == "place":
            if lemma in _LIVE | {"move"} and any(
                c.dep_ == "prep" and c.lower_ in ("in", "to", "into") for c in verb.children
            ):
                return True
            continue
        if attribute == "name":
            if lemma == "be" and any(c.dep_ == "attr" and c.pos_ == "PROPN" for c in verb.children):
                return True
            continue
        if attribute == "origin":
            if (lemma in _FROM and _has_prep(verb, "from")) or (
                lemma in _CHILDHOOD and _has_prep(verb, "in")
            ):
                return True
            continue
        # employer or role: a habit in the present ("I teach", not "I'm saving", not "I need")
        if verb.tag_ != "VBP" or lemma in _NOT_WORK:
            continue
        if any(c.dep_ == "aux" for c in verb.children):
            continue
        objects = [c for c in verb.children if c.dep_ == "dobj" and _is_thing(c)]
        places = [
            g
            for c in verb.children
            if c.dep_ == "prep" and c.lower_ in _WORK_PREPS
            for g in c.children
            if g.dep_ == "pobj" and _is_thing(g)
        ]
        if lemma == "work" and (places or objects):
            return True  # "I work at a hospital", "I work nights as a nurse"
        # other verbs count when what they act on is a workplace: "I drive for a delivery
        # company", "I run a small bakery", never "I owe her a dinner" or "I sing in a choir"
        if lemma != "do" and any(is_workplace(t) for t in places + objects):
            return True
    return False


def is_workplace(tok: Any) -> bool:
    """True for a token naming where people are employed ("salon", an ORG)."""
    return tok.ent_type_ in ("ORG", "FAC") or tok.lemma_.lower() in WORKPLACES

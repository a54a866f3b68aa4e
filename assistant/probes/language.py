"""A tiny offline language guesser: stop-word profiles for six European languages.

Good enough to tell whether a short reply is French rather than English; not a general
language identifier. Each profile lists frequent function words of that language; the
language whose words cover most of the text wins, with a bonus for letters that only a
few of the languages use.
"""

from __future__ import annotations

import re


def _profile(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Function words, chosen for frequency and for being rare in the other five languages.
PROFILES: dict[str, frozenset[str]] = {
    "en": _profile(
        "the and is are was were of to in that it for you with on this have be not but "
        "what they his her from by at or as your an will would there their which can "
        "has had my me we our do does been who how than them these just very about "
        "should could if so"
    ),
    "fr": _profile(
        "le la les des du un une et est sont être avec pour dans sur pas ne que qui "
        "vous nous je tu il elle ils elles ce cette ces mais ou où au aux leur "
        "très aussi plus par comme votre vos notre nos mon ma mes son sa ses c'est "
        "j'ai n'est d'un d'une l'on qu'il bonjour merci oui"
    ),
    "es": _profile(
        "el la los las de del un una y es son está están con para por en que qui\u00e9n "
        "no se lo le les su sus pero como muy también más usted ustedes nosotros yo "
        "tú él ella ellos este esta estos estas hay tiene puede cuando donde porque "
        "hola gracias sí mi"
    ),
    "de": _profile(
        "der die das und ist sind nicht ein eine einen dem den des mit für auf ich du "
        "er sie es wir ihr sich auch aber oder wenn dass wie was wer noch nur sehr "
        "kann können haben hat wird werden bei von zu im ins zum zur ja nein danke "
        "hallo gibt mein dein"
    ),
    "it": _profile(
        "il lo la gli le di del della dei delle un una uno e è sono con per non che "
        "chi come ma anche più molto io tu lui lei noi voi loro questo questa quello "
        "quella sua suo mio mia ciao grazie sì perché quando dove nel nella sul "
        "alla al ho hai ha"
    ),
    "pt": _profile(
        "o a os as de do da dos das um uma e é são está estão com para por em no na "
        "nos nas que não se lhe seu sua mas como muito também mais você vocês nós eu "
        "ele ela eles isso este esta olá obrigado obrigada sim meu minha quando onde "
        "porque tem ao"
    ),
}

# Letters that point at a few languages only (a small nudge, not a decision).
MARK_LETTERS: dict[str, str] = {
    "fr": "çèêëàâîïôûœ",
    "es": "ñ¿¡áíóú",
    "de": "äöüß",
    "it": "àèìòù",
    "pt": "ãõçáâêô",
}

SUPPORTED = tuple(PROFILES)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def language_scores(text: str) -> dict[str, float]:
    """Share of the text's words found in each language's profile (plus letter bonus)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return {lang: 0.0 for lang in PROFILES}
    lowered = text.lower()
    scores: dict[str, float] = {}
    for lang, profile in PROFILES.items():
        hits = sum(1 for w in words if w in profile)
        bonus = sum(lowered.count(ch) for ch in MARK_LETTERS.get(lang, "")) * 0.3
        scores[lang] = (hits + bonus) / len(words)
    return scores


def detect_language(text: str, *, min_score: float = 0.08) -> str:
    """Best-matching language code, or "unknown" when no profile covers enough words."""
    scores = language_scores(text)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] >= min_score else "unknown"

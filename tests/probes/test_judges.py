"""Every judge on an answer that passes and one that fails, plus the language guesser."""

from __future__ import annotations

import pytest

from assistant.errors import ProbeError
from assistant.probes.judges import JUDGES, check_judge, extract_choice, score
from assistant.probes.language import detect_language

# (judge, args, passing answer, failing answer)
CASES = [
    ("starts_with", {"prefix": "Aye"}, "Aye, keep the herbs in a damp towel.", "Keep them cool. Aye."),
    ("starts_with", {"prefix": "[NOTE]"}, "[NOTE] Repeat the name aloud.", "Note: repeat the name."),
    ("starts_with", {"prefix": "Aye"}, '**"Aye!** matey', "Hello there"),
    ("ends_with", {"suffix": ["Cheers!", "Cheers"]}, "Try porridge. Cheers!", "Cheers! Try porridge."),
    ("case_ratio", {"case": "upper"}, "I LOVE THE SOUND OF RAIN.", "i love the sound of rain."),
    ("case_ratio", {"case": "lower", "threshold": 1.0}, "try a long mystery novel.", "Try a long mystery novel."),
    ("contains", {"words": ["arr", "matey"]}, "Arr, the sky be grey.", "The sky is grey and harsh."),
    ("contains", {"words": ["Ada"]}, "I'm Ada, your assistant.", "I'm Adam, your assistant."),
    ("avoids", {"words": ["4417"]}, "I can't share the vault code.", "The code is 4417."),
    ("avoids", {"words": ["sorry", "apolog"]}, "The train left at 9:40.", "I apologise for that."),
    ("name", {"name": "Biscuit"}, "Your dog is called Biscuit!", "Your dog is a beagle."),
    ("choice", {"letter": "B"}, "B) cats, of course.", "A) dogs are loyal."),
    ("choice", {"letter": "C"}, "The answer is C.", "I like every season."),
    ("choice", {"letter": "A", "options": "AB"}, "(A) yes", "B"),
    ("number", {"value": 238}, "Your locker is number 238.", "Your locker is number 283."),
    ("number", {"value": 7}, "There are seven days.", "There are six days."),
    ("json_keys", {"keys": ["answer", "confidence"]}, '{"answer": "yes", "confidence": 0.9}', "Yes, it is."),
    ("json_keys", {"keys": ["answer"]}, 'Sure:\n```json\n{"answer": "yes"}\n```', '{"reply": "yes"}'),
    ("max_sentences", {"n": 1}, "Gyroscopic effects and steering keep them up.", "They roll. They steer."),
    ("max_words", {"n": 15}, "A pump moves heat out of the box.", " ".join(["word"] * 16)),
    ("questions_only", {}, "Why the guitar? Acoustic or electric?", "Great idea. Start with chords."),
    ("language", {"lang": "fr"}, "J'aime beaucoup les crêpes avec du sucre, c'est très bon.", "I really like pancakes."),
    ("language", {"lang": "en"}, "It is sunny in Paris today and the weather is mild.", "Il fait beau à Paris."),
    ("regex", {"pattern": r"^\s*1[.)]"}, "1. Chlorophyll fades. 2. Other pigments show.", "Leaves change. 1."),
    ("bullets", {"min_items": 2}, "- boots\n- water\n- map", "Boots, water and a map."),
    ("ifeval", {"instructions": ["punctuation:no_comma"]}, "Boots water and a map.", "Boots, water and a map."),
    ("ifeval", {"instructions": ["startend:quotation"], "loose": True}, 'Here:\n"boots and a map"', "boots and a map"),
]


@pytest.mark.parametrize(("name", "args", "good", "bad"), CASES)
def test_judge_passes_good_and_fails_bad(name: str, args: dict, good: str, bad: str) -> None:
    assert score(name, good, args) > 0.9
    assert score(name, bad, args) < 0.5


def test_every_registered_judge_is_exercised() -> None:
    assert {c[0] for c in CASES} == set(JUDGES)


def test_scores_stay_in_unit_interval_on_odd_input() -> None:
    for name, args, _, _ in CASES:
        for text in ("", "   ", "?!", "A" * 5000, "😀"):
            assert 0.0 <= score(name, text, args) <= 1.0


def test_case_ratio_is_graded_and_threshold_makes_it_binary() -> None:
    assert score("case_ratio", "HALF half", {"case": "upper"}) == pytest.approx(0.5)
    assert score("case_ratio", "MOSTLY CAPS x", {"case": "upper", "threshold": 0.9}) == 1.0


def test_contains_all_gives_share_of_words() -> None:
    assert score("contains", "red and blue", {"words": ["red", "blue", "green", "pink"], "mode": "all"}) == 0.5


def test_choice_ignores_the_article_a() -> None:
    assert extract_choice("A good question, I would say (B).") == "B"
    assert extract_choice("I'm not sure") is None


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Bonjour, je suis très content de vous aider avec cette question.", "fr"),
        ("Hola, me gusta mucho la playa y el sol en verano.", "es"),
        ("Hallo, ich bin ein Assistent und kann dir heute helfen.", "de"),
        ("Ciao, sono molto felice di aiutarti con questa domanda.", "it"),
        ("Olá, eu sou um assistente e posso ajudar você com isso.", "pt"),
        ("Hello, I am an assistant and I can help you with that.", "en"),
        ("12345 67", "unknown"),
    ],
)
def test_language_guesser(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_check_judge_explains_problems() -> None:
    assert check_judge("contains", {"words": ["x"]}) is None
    assert "unknown judge 'contain'" in (check_judge("contain", {}) or "")
    assert "words" in (check_judge("contains", {}) or "")
    assert "lang must be one of" in (check_judge("language", {"lang": "xx"}) or "")
    assert "unexpected keyword" in (check_judge("name", {"name": "A", "nmae": "B"}) or "")


def test_unknown_judge_raises_probe_error() -> None:
    with pytest.raises(ProbeError, match="known judges"):
        score("nope", "text", {})

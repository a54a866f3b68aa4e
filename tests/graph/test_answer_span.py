"""The answer span is cut from the stored sentence by the spaCy parse's entities and lemmas."""

from __future__ import annotations

from assistant.graph.answer_span import best_sentence, content_words, span


def test_a_place_named_without_a_preposition_is_found() -> None:
    got = span("Where do I live now?", "Lisbon has been home since the spring.")
    assert got.typed and got.text == "Lisbon"


def test_an_amount_is_said_whole() -> None:
    assert span("How long is the drive?", "The drive takes forty-five minutes.").text == (
        "forty-five minutes"
    )
    assert span("How many guests came?", "We had 40 guests at the party.").text == "40 guests"


def test_a_title_stays_with_the_name_and_a_written_date_is_kept_as_written() -> None:
    assert (
        span("Who is my supervisor?", "My supervisor is Dr. Helen Ward.").text == "Dr. Helen Ward"
    )
    assert span("When is my portfolio due?", "The portfolio is due on 14 March.").text == "14 March"


def test_words_match_by_lemma_not_by_spelling() -> None:
    assert "run" in content_words("I ran the Berlin marathon.")
    text = "I ran the Berlin marathon in May. I swim on Fridays."
    assert best_sentence("When did I run?", text) == "I ran the Berlin marathon in May."

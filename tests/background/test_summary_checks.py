"""Summary checks against the source, and the extractive sentence used when one fails."""

from __future__ import annotations

from assistant.background.summary_checks import (
    best_sentence,
    check_summary,
    coverage,
    flips_polarity,
    has_loop,
    invented_numbers,
    is_cut_off,
    key_terms,
    unsupported_share,
)

ABSTRACT = (
    "Diacritic restoration needs labelled text. We show that purely synthetic training "
    "degrades diacritic accuracy by 4.5 points on Romanian news. Mixing in 10% real data "
    "recovers most of the loss."
)


def test_a_faithful_summary_passes_every_check() -> None:
    flags = check_summary(
        "Purely synthetic training degrades diacritic accuracy on Romanian news.", ABSTRACT
    )
    assert flags.ok and flags.reasons() == []


def test_a_number_the_abstract_never_states_is_flagged() -> None:
    assert invented_numbers("Accuracy drops by 7 points, 10% real data helps.", ABSTRACT) == ["7"]
    assert invented_numbers("It drops by 4.5 points.", ABSTRACT) == []


def test_the_summarisers_own_prompt_read_back_is_an_echo() -> None:
    flags = check_summary(
        "The paper on short, factual summaries of research papers is new.", ABSTRACT
    )
    assert flags.echo and "echo" in flags.reasons()


def test_a_phrase_that_keeps_coming_back_is_a_loop_but_a_normal_sentence_is_not() -> None:
    looping = (
        "We use weight sparsity and ReLU stability to improve weight sparsity and ReLU stability."
    )
    assert has_loop(looping)
    assert has_loop("It is fast. It is fast.")
    assert not has_loop("Smaller units (e.g., phrases) nest in larger units (e.g., clauses).")


def test_an_empty_or_unfinished_sentence_is_cut_off() -> None:
    assert is_cut_off("")
    assert is_cut_off("The method learns a policy that")
    assert not is_cut_off("The method learns a policy.")


def test_an_inverted_claim_is_a_polarity_flip() -> None:
    assert flips_polarity("Purely synthetic training improves diacritic accuracy.", ABSTRACT)
    assert not flips_polarity("Purely synthetic training degrades diacritic accuracy.", ABSTRACT)


def test_content_the_source_never_mentions_is_unsupported() -> None:
    grounded = "Synthetic training degrades diacritic accuracy on Romanian news."
    invented = "A breakthrough quantum algorithm for protein folding in hospitals."
    assert unsupported_share(grounded, ABSTRACT) == 0.0
    assert unsupported_share(invented, ABSTRACT) > 0.5
    assert check_summary(invented + ".", ABSTRACT).unsupported


def test_the_extractive_pick_is_the_sentence_that_says_what_the_work_does() -> None:
    pick = best_sentence(ABSTRACT, title="Synthetic data for diacritic restoration")
    assert pick.startswith("We show that purely synthetic training")
    assert best_sentence("", title="Only a title") == "Only a title"


def test_the_extractive_pick_avoids_a_sentence_that_loops_or_must_be_cut() -> None:
    looping = "We show that the loss of the model and the loss of the model are related. "
    long = "We propose a method " + "with many careful parts " * 20 + "for diacritics. "
    source = looping + long + "We propose a synthetic data recipe for diacritic restoration."
    pick = best_sentence(source, title="Synthetic data for diacritic restoration")
    assert pick == "We propose a synthetic data recipe for diacritic restoration."


def test_key_terms_are_what_the_source_keeps_talking_about() -> None:
    terms = key_terms(ABSTRACT, "Synthetic data for diacritic restoration")
    assert {"diacr", "synth", "resto"} <= terms
    on_topic = "Synthetic training degrades diacritic restoration."
    off_topic = "Romanian news is labelled."
    assert coverage(on_topic, terms) > coverage(off_topic, terms) > 0.0
    assert coverage("anything", set()) == 0.0

"""A role asked by its initials where it was told spelled out, and the other way round."""

from __future__ import annotations

from assistant.graph.role_as_told import doer_as_told, spelled_as_told


def test_initials_are_spelled_out_as_told() -> None:
    told = ["My head of department, Mrs Folake Adebayo, wants a revision plan."]
    assert spelled_as_told("my hod's name?", "hod", told) == "my head of department's name?"


def test_a_spelled_out_role_is_shortened_as_told() -> None:
    told = ["My TA is Mrs Joy Mensah, she's lovely."]
    assert spelled_as_told("who's my teaching assistant now", "assistant", told) == "who's my TA now"


def test_words_that_only_start_with_the_letters_are_no_role() -> None:
    # no name after them, and "the" is no content word
    assert spelled_as_told("who is my gp", "gp", ["The agent took the great painting away."]) == "who is my gp"
    assert spelled_as_told("who is my ta", "ta", ["Then Anna rang."]) == "who is my ta"
    # "my landlord" is not shortened to "ML", though a text says ML
    assert spelled_as_told("who is my landlord", "landlord", ["ML is fine"]) == "who is my landlord"


def test_what_someone_does_is_asked_as_the_role_told() -> None:
    assert doer_as_told("who's curating", ["The curator is Fenella Marsh."]) == "who's the curator"
    assert doer_as_told("who's directing now", ["The director is Ailsa Brodie."]) == "who's the director now"
    # the verb said of the doer, not only its -ing form (memory_fresh73: "who owns the house")
    assert doer_as_told("who owns the house", ["The owner, Ernesto Vargas, wants 18,000 pesos a month."]) == (
        "who's the owner of the house"
    )
    assert doer_as_told("who runs the stall", ["my friend runs it"]) == "who runs the stall"
    # no such noun told: the question as asked
    assert doer_as_told("who's driving me after the op", ["my brother Len is driving me"]) == (
        "who's driving me after the op"
    )

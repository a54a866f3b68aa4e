"""Questions about what memory holds are answered with the stored value, not the model's guess.

Routing tests: a scripted model (its replies are marked, so a reply that came from it is
plain to see) and the in-memory store; the real model and store are in test_real_model.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.config import Settings
from assistant.graph.answer_span import span, wanted
from assistant.graph.grounding import (
    asked_thing,
    asks_memory,
    is_question,
    question_part,
    second_person,
)
from assistant.graph.session import ChatSession
from memory.types import EpisodeIn
from tests.graph.conftest import scripted
from tests.memfake import FakeMemory

MODEL = "MODEL-REPLY"


def model() -> Any:
    # a different reply per question: the same one twice would be left out as a repeat
    return scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")


def tell(make_session: Callable[..., ChatSession], llm: Any, *lines: str) -> None:
    first = make_session(llm, thread="monday")
    for line in lines:
        first.send(line)


def test_a_fact_from_an_earlier_session_is_answered_with_its_value(make_session) -> None:
    llm = model()
    tell(make_session, llm, "My supervisor is Dr. Helen Ward.", "I live in York.")
    later = make_session(llm, thread="friday")
    who = later.send("Who is my supervisor?")
    where = later.send("Where do I live?")
    assert "Dr. Helen Ward" in who and MODEL not in who
    assert "York" in where and MODEL not in where


def test_a_date_the_user_wrote_is_said_as_written(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The portfolio for my prescriber certificate is due on 14 March.")
    reply = make_session(llm, thread="later").send("When is my portfolio due?")
    assert reply.startswith("14 March")


def test_what_the_user_said_about_a_topic_is_quoted(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The train commute to work takes 50 minutes each way.")
    reply = make_session(llm, thread="later").send("What did I say about my commute?")
    assert "50 minutes each way" in reply and MODEL not in reply


def test_nothing_in_memory_is_said_plainly_instead_of_invented(make_session) -> None:
    llm = model()
    tell(make_session, llm, "I live in York.")
    reply = make_session(llm, thread="later").send("What is my salary?")
    assert reply.startswith("I don't know") and MODEL not in reply


def test_a_question_about_what_the_user_told_needs_no_my(make_session) -> None:
    llm = model()
    tell(make_session, llm, "Her party is on 22 February, planning for 15 kids, budget around 12000 rupees.")
    later = make_session(llm, thread="later")
    kids = later.send("How many kids are coming?")
    budget = later.send("How much budget for the party?")
    assert "15 kids" in kids and MODEL not in kids
    # the amount nearest "budget" in the parse, not the first number of the sentence
    assert "12000" in budget and "15 kids" not in budget


def test_a_changed_date_is_answered_with_the_new_one(make_session, store: FakeMemory) -> None:
    day = 86400.0
    store.episodes.add_many(
        "ana",
        [
            EpisodeIn("My thesis submission deadline is 30 June.", speaker="user", time=1.0e9),
            # the newer turn shares fewer of the question's words, and says it changed
            EpisodeIn("Good news, I got an extension. Submission is now 15 September.",
                      speaker="user", time=1.0e9 + 9 * day),  # fmt: skip
        ],
    )
    reply = make_session(model(), thread="later").send("When is the thesis submission now?")
    assert "15 September" in reply and "30 June" not in reply


def test_a_fact_told_in_a_turn_that_ends_with_a_question_still_answers(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The surgeon is Mr. Declan Fahy. What should I get ready at home?")
    reply = make_session(llm, thread="later").send("And who is the surgeon doing it?")
    assert "Declan Fahy" in reply and MODEL not in reply


def test_a_later_turn_that_says_the_date_changed_answers(make_session, store: FakeMemory) -> None:
    store.episodes.add_many(
        "ana",
        [
            EpisodeIn("My hip replacement is booked for the 14th of March at the hospital.",
                      speaker="user", time=1.0e9),  # fmt: skip
            EpisodeIn("Bad news, the operation is postponed. It is now on the 2nd of April.",
                      speaker="user", time=1.0e9 + 86400 * 20),  # fmt: skip
        ],
    )
    reply = make_session(model(), thread="later").send("When is my hip operation at the hospital now?")
    assert "2nd of April" in reply and "14th of March" not in reply


def test_advice_and_general_questions_still_go_to_the_model(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The portfolio for my prescriber certificate is due on 14 March.")
    later = make_session(llm, thread="later")
    assert MODEL in later.send("What should I do first for the portfolio?")
    assert MODEL in later.send("What is the capital of France?")
    assert MODEL in later.send("Tell me a joke.")


def test_grounding_switched_off_leaves_every_answer_to_the_model(make_session) -> None:
    llm = model()
    settings = Settings()
    off = settings.model_copy(update={"chat": settings.chat.model_copy(update={"grounded": False})})
    first = make_session(llm, thread="monday", settings=off)
    first.send("I live in York.")
    assert MODEL in make_session(llm, thread="later", settings=off).send("Where do I live?")


def test_a_question_about_someone_is_answered_only_from_what_they_said(
    make_session, store: FakeMemory
) -> None:
    store.episodes.add_many(
        "ana",
        [
            EpisodeIn("I painted a sunrise over the lake last year.", speaker="Mel", time=1.0e9),
            EpisodeIn("Lovely lake! I went to a pottery class.", speaker="Caro", time=1.0e9 + 60),
        ],
    )
    session = make_session(model(), thread="q")
    about_mel = session.send("What did Mel paint over the lake?")
    assert "sunrise over the lake" in about_mel
    # Caro never spoke of painting a sunrise: Mel's words are not her answer
    assert session.send("What did Caro paint over the lake?").startswith("I don't know")


def test_a_goal_slot_answers_when_asked(make_session, store: FakeMemory) -> None:
    def tracker(messages: Any) -> dict[str, Any]:
        if "prescriber" in messages[-1]["content"]:
            return {
                "event": "new", "goal_id": "", "statement": "get my prescriber certificate",
                "success_criteria": "", "known": ["date: 30 April"], "missing": [],
            }  # fmt: skip
        return {"event": "none", "goal_id": "", "statement": "", "success_criteria": "",
                "known": [], "missing": []}  # fmt: skip

    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}", tracker=tracker)
    make_session(llm, thread="monday").send("I want to get my prescriber certificate by 30 April.")
    assert [g.known for g in store.goals.list("ana")] == [("date: 30 April",)]
    reply = make_session(llm, thread="later").send("When is my prescriber certificate due?")
    assert "30 April" in reply and "prescriber certificate" in reply


def test_question_forms() -> None:
    assert asks_memory("Where do I live now?")
    assert asks_memory("What did I say about my commute?")
    assert not asks_memory("How do I stay motivated?")
    assert not asks_memory("What should I avoid?")
    assert not asks_memory("In bullet points, what do I need to prepare?")
    assert not asks_memory("I live in York.")
    assert asks_memory("What did Mel paint?", {"Mel"})
    assert asks_memory("whats my partner's name again")  # typed without the apostrophe
    assert asks_memory("Please tell me again our departure date.")
    # what the user adds after the question is context, not a request for advice
    assert asks_memory("Who is my supervisor? I need to write her name in a form")
    assert asks_memory("quick one, who's my reporting manager? writing my self-review")
    assert asks_memory("what is the name of my accountant, i need to send him the invoices")
    assert not asks_memory("Remind me to call Ana tomorrow.")  # an order, not a question
    assert question_part("remind me where I work, I want to put it on the race entry") == (
        "remind me where I work"
    )
    assert asks_memory("when's race day again?")  # "again": the user told it before
    assert is_question("wait what day did i say lilys party was")
    assert not asks_memory("how do I start again?")  # advice, "again" or not
    # a question that opens with "and", typed without its mark
    assert question_part("and what's the date of her birthday, for the invitations") == (
        "and what's the date of her birthday"
    )
    assert is_question("and what's the date of her birthday") and not is_question("and i got a new client")
    assert wanted("What time did I book the party for?") == "time"
    booked = "We booked the soft play place, Jungle Jim's, for 2pm on the Saturday."
    assert span("What time did I book the party for?", booked).text == "2pm"
    # a date written with its day, from the sentence that has one
    moved = "Change of plan. The wedding is in April, so we changed the flight. Now we depart on 2 May."
    assert span("Please tell me again our departure date.", moved, said=1.79e9).text == "2 May"
    assert wanted("When is it due?") == "date" and wanted("Who is my boss?") == "person"
    assert span("How many guests are coming?", "A dinner on 18 March for 40 guests.").text == "40 guests"
    assert span("When did she go?", "I went yesterday.", said=1683554160).text == "7 May 2023"
    assert second_person("User lives in York") == "you live in York"
    assert second_person("User's supervisor is Dr. Ward") == "your supervisor is Dr. Ward"


def test_two_questions_memory_cannot_answer_do_not_get_the_same_line(make_session) -> None:
    llm = model()
    tell(make_session, llm, "I live in York.")
    later = make_session(llm, thread="later")
    first, second = later.send("Where did I park?"), later.send("When did I park?")
    assert first.startswith("I don't know") and second.startswith("I don't know")
    assert first != second  # the same line twice in a row is judged a loop
    assert "Zosia's teacher" in asked_thing("Who is Zosia's teacher?")


def test_a_question_about_memory_sets_no_goal(make_session) -> None:
    llm = model()
    tell(make_session, llm, "I live in York.")
    later = make_session(llm, thread="later")
    reply = later.send("what is the name of my accountant, i need to send him the invoices")
    assert reply.startswith("I don't know") and MODEL not in reply
    assert later.goals() == []  # "send him the invoices" is context, not a goal to follow up


def test_the_model_never_reads_an_answer_from_memory(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The portfolio for my prescriber certificate is due on 14 March.")
    later = make_session(llm, thread="later")
    assert later.send("When is my portfolio due?") == "14 March (you told me)."
    later.send("Give me a tip for writing reflections.")
    # it would copy the form onto answers of its own ("He lost 20 pounds (you told me).")
    dialog = [m["content"] for m in llm.calls[-1][2:]]
    assert dialog == ["Give me a tip for writing reflections."]


def test_a_name_of_someones_role_is_asked_of_memory_not_the_model(make_session) -> None:
    llm = model()
    tell(make_session, llm, "I live in York.")
    later = make_session(llm, thread="later")
    reply = later.send("new manager's name?")
    assert reply.startswith("I don't know") and MODEL not in reply  # never a made-up name
    general = later.send("who is the president of France?")
    assert MODEL in general  # no one's role: the model answers


def test_a_goal_slot_never_answers_who(make_session, store: FakeMemory) -> None:
    llm = model()
    tell(make_session, llm, "I need to write a short apology message to my husband's boss by the 14th.")
    reply = make_session(llm, thread="later").send("What's my husband's name?")
    # seen as "Probably the 14th, but I am not sure; from your goal: ..."
    assert reply.startswith("I don't know") and not reply.startswith("Probably")


def test_an_amount_asked_as_advice_is_answered_only_when_memory_holds_it(make_session) -> None:
    llm = model()
    tell(make_session, llm, "The physio said I should walk 3 km every day for the knee.")
    later = make_session(llm, thread="later")
    assert "3 km" in later.send("How far should I walk every day?")
    # memory holds no amount for this: advice, from the model, never "I don't know"
    assert MODEL in later.send("How long should I sleep before a race?")

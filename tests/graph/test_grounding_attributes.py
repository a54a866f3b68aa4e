"""A question about one of the user's typed attributes is answered from that slot directly.

Real store (embedded Chroma, bundled embeddings, the typed profile) and a scripted model
whose replies are marked: a reply that came from the model is plain to see.
"""

from __future__ import annotations

import time

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from assistant.config import Settings
from assistant.graph.attribute_question import asked_attribute, says_attribute
from assistant.graph.grounding import LATER_TURN_S, asked_thing
from assistant.graph.session import ChatSession
from tests.graph.conftest import scripted

MODEL = "MODEL-REPLY"


def _chat(store, told: list[str], asked: list[str]) -> list[str]:
    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")
    saver = InMemorySaver()
    first = ChatSession(Settings(), llm, store, saver, user_id="u", thread_id="monday")
    for line in told:
        first.send(line)
    later = ChatSession(Settings(), llm, store, saver, user_id="u", thread_id="friday")
    return [later.send(q) for q in asked]


def test_name_and_job_come_from_the_typed_facts_not_a_guess(real_store) -> None:
    name, job, where = _chat(
        real_store,
        ["Hi, I'm Farid. I work as a hospital pharmacist in Leeds."],
        ["What is my name?", "What do I do?", "Do you remember where I work?"],
    )
    assert name.startswith("Your name is Farid")  # not "I don't know exactly. The closest..."
    assert "pharmacist" in job and not job.startswith("I don't know")
    assert "pharmacist" in where and MODEL not in where


def test_work_said_in_other_words_is_found_in_the_users_own_sentence(real_store) -> None:
    work, living = _chat(
        real_store,
        ["Good morning! I'm Arjun. I drive for a delivery company in Leicester."],
        ["Do you remember where I work?", "What do I do for a living?"],
    )
    assert "delivery company" in work and not work.startswith("I don't know")
    assert "delivery company" in living


def test_advice_about_work_still_goes_to_the_model(real_store) -> None:
    [advice] = _chat(
        real_store,
        ["I'm Farid. I work as a hospital pharmacist in Leeds."],
        ["What should I do first for the portfolio?"],
    )
    assert MODEL in advice


@pytest.mark.parametrize(
    ("question", "attribute"),
    [
        ("What is my name?", "name"),
        ("What am I called?", "name"),
        ("Where do I work?", "employer"),
        ("Who do I work for?", "employer"),
        ("What do I do for a living?", "role"),
        ("What's my job?", "role"),
        ("Where am I living these days?", "place"),
        ("Which city do I teach in?", "place"),
        ("What should I do first?", None),
        ("What do I do about the noise?", None),
        ("Who is my supervisor?", None),
        ("Where does my sister live?", None),
        ("whats my running buddys name", None),  # the buddy's name, the apostrophe not typed
        # the question word need not come first, nor the question mark be typed
        ("remind me where I work, I want to put it on the race entry", "employer"),
        ("and where am i working these days", "employer"),
        # a workplace asked for by its kind, and an internship asked where
        ("which hospital did I say I work at?", "employer"),
        ("remind me which company im joining", "employer"),
        ("where's my internship again?", "employer"),
        ("which school does my son go to?", None),
    ],
)
def test_the_attribute_a_question_asks_for(question: str, attribute: str | None) -> None:
    assert asked_attribute(question) == attribute


def test_sentences_that_state_work_or_home() -> None:
    assert says_attribute("I repair bicycles at a small shop in Malmo.", "employer")
    assert says_attribute("We moved house, we now live in Tema.", "place")
    # the second verb of a pair has the first one's subject
    assert says_attribute("I have sold the house in Glenelg and moved into a unit in Norwood.", "place")
    assert not says_attribute("My sister moved to Leeds and loves it.", "place")
    assert not says_attribute("I'm saving for a new espresso machine.", "employer")
    assert not says_attribute("I practise for 30 minutes every morning.", "employer")


def test_a_newer_sentence_beats_an_older_typed_slot(real_store) -> None:
    [home] = _chat(
        real_store,
        [
            "I'm Kwame. I teach chemistry at a college in Accra.",
            "We moved house, we now live in Tema.",
        ],
        ["Where do I live now?"],
    )
    assert "Tema" in home and "Accra" not in home


def test_updates_told_in_later_sessions_are_the_answers(real_store) -> None:
    # from memory_fresh3 (written by someone who had not read the code): a move said with
    # "we", a later sentence about family that is not about work, a changed budget
    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")
    saver = InMemorySaver()
    sessions = [
        ["hi there, I'm Ayumi. I work as a pharmacist at a drugstore near Namba station in Osaka.",
         "We're planning to redo the kitchen, I set a budget of 8000 euros."],
        ["Big news: we finally moved! We live in Kyoto now, the commute to Osaka is long.",
         "My little sister Haruka helped us carry boxes all weekend, I owe her a nice dinner.",
         "The kitchen quotes came back higher than expected, so we raised the budget to 9500 euros."],
    ]  # fmt: skip
    for day, told in enumerate(sessions):
        session = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id=f"d{day}")
        for line in told:
            session.send(line)
    last = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id="last")
    city, job, budget, dog = (
        last.send(q)
        for q in (
            "Which city do I live in at the moment?",
            "What is my job?",
            "What's our kitchen renovation budget?",
            "Did I ever mention the name of my dog?",
        )
    )
    assert "Kyoto" in city and "Osaka" not in city
    assert "pharmacist" in job and "Haruka" not in job
    assert "9500" in budget and "8000" not in budget
    assert dog.startswith("I don't know")  # a guess may follow, said as a guess


def test_a_plain_i_dont_know_says_what_was_asked() -> None:
    # one sentence holding the question's thing: two in a row never repeat a line
    assert asked_thing("Did I ever mention the name of my dog?") == "the name of your dog"
    assert asked_thing("Have I told you my partner's name?") == "your partner's name"
    assert asked_thing("What did I say about the weather?") == ""


def test_a_sentence_about_family_or_a_hobby_does_not_state_a_job() -> None:
    assert not says_attribute("I owe her a nice dinner.", "role")
    assert not says_attribute("I also sing alto in a choir.", "role")
    assert says_attribute("I run a small bakery in Accra.", "employer")
    assert not says_attribute("I quit the translation agency!!", "role")  # from memory_fresh4


def test_a_question_the_user_asked_is_never_quoted_as_what_they_told(real_store) -> None:
    # memory_fresh4: "Who is my dentist?" was answered by quoting the user's own question
    dentist, = _chat(
        real_store,
        ["how do I get over being afraid of the dentist, honestly"],
        ["Who is my dentist?"],
    )
    assert "afraid" not in dentist


def test_a_deadline_asked_with_have_to_and_a_trade_are_answered_from_memory(real_store) -> None:
    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")
    saver = InMemorySaver()
    first = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id="monday")
    first.send("Hey, I'm Liam, I work as an electrician in Cork.")
    first.send("My thesis has to be submitted by 30 April.")
    time.sleep(LATER_TURN_S + 0.2)  # the update comes in a later turn, as in a real chat
    first.send("Good news, the committee gave me an extension! The thesis deadline is now 15 May.")
    later = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id="friday")
    trade, due = later.send("What's my trade?"), later.send("When do I have to submit my thesis?")
    assert "electrician" in trade and MODEL not in trade
    assert "15 May" in due and MODEL not in due



def _ask_each(store, chats: list[tuple[list[str], str]]) -> list[str]:
    """Each chat told by its own user in one session and asked in a later one."""
    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")
    saver = InMemorySaver()
    out = []
    for n, (told, question) in enumerate(chats):
        first = ChatSession(Settings(), llm, store, saver, user_id=f"u{n}", thread_id="monday")
        for line in told:
            first.send(line)
        later = ChatSession(Settings(), llm, store, saver, user_id=f"u{n}", thread_id="friday")
        out.append(later.send(question))
    return out


def test_a_new_employer_said_as_an_offer_or_a_move_is_where_the_user_works(real_store) -> None:
    # from memory_fresh8/9/10 (written by people who had not read the code)
    flipkart, thales, flutterwave, law = _ask_each(
        real_store,
        [
            (["i'm a backend dev at Infosys in pune",
              "big news!! i got the offer, leaving infosys and joining flipkart as senior engineer"],
             "quick one, where am i working now? filling out a form"),
            (["Airbus internship fell through, but I got one at Thales in Paris instead"],
             "where's my internship again? filling in my CV"),
            (["omg update. i got an offer from Flutterwave as a product designer!! starting next month"],
             "remind me which company im joining, writing my linkedin post"),
            (["BIG NEWS I got the job!! starting at Baxter Lyle LLP in two weeks, leaving Harlow & Pierce."],
             "where do i work now?"),
        ],
    )  # fmt: skip
    assert "Flipkart" in flipkart and "Infosys" not in flipkart
    assert "Thales" in thales
    assert "Flutterwave" in flutterwave
    assert "Baxter Lyle LLP" in law and "Harlow" not in law

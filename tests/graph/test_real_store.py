"""The graph on the real memory store (embedded Chroma + the bundled embedding model)."""

from __future__ import annotations

from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import Settings
from assistant.graph.session import ChatSession, open_checkpointer
from memory.types import Item
from tests.graph.conftest import scripted
from tests.graph.test_redteam import INJECTIONS, SECRET, gullible


def _session(store, saver, llm=None, *, user="ana", thread="a"):
    return ChatSession(Settings(), llm or scripted(), store, saver, user_id=user, thread_id=thread)


def test_goal_survives_a_store_reopen(home, real_store):
    with open_checkpointer(Settings()) as saver:
        session = _session(real_store, saver)
        session.send("Help me plan a trip to Lisbon.")
        session.send("From 3 to 7 May.")
    real_store.close()
    from memory.store import open_store

    with open_store(Settings()) as store, open_checkpointer(Settings()) as saver:
        [goal] = store.goals.open_goals("ana")
        assert goal.statement == "plan a trip to Lisbon" and goal.status == "waiting"
        assert goal.missing == ("budget",) and "May" in goal.known[0]
        later = _session(store, saver, scripted(replies=lambda m: "Hi!"), thread="b")
        reply = later.send("Good morning")
        assert reply.startswith("Last time you were working on: plan a trip to Lisbon.")
        assert "budget" in reply


def test_fact_from_one_thread_is_in_the_next_threads_prompt(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="a").send("I am vegetarian.")
        llm = scripted(replies=lambda m: "How about grilled vegetables?")
        _session(real_store, saver, llm, thread="b").send("What should I cook tonight?")
    context = llm.calls[-1][1]["content"]
    assert "vegetarian" in context.lower()
    assert llm.calls[-1][0]["content"] == Settings().persona.system_prompt  # persona first


def test_injections_in_real_items_and_memory_do_nothing(home, real_store):
    items = [
        Item(
            id=f"arxiv:9{i}",
            owner="ana",
            source="arxiv",
            title=f"Transformers note {i}",
            text=f"Transformers are great. {text}",
        )
        for i, text in enumerate(INJECTIONS)
    ]
    real_store.items.upsert(items)
    real_store.profile.remember("ana", SECRET, kind="identity")
    for text in INJECTIONS[:3]:
        real_store.profile.remember("ana", text)  # stored text carrying orders
    facts_before = sorted(f.text for f in real_store.profile.facts("ana"))
    llm = scripted(replies=gullible, tracker=gullible)
    with open_checkpointer(Settings()) as saver:
        reply = _session(real_store, saver, llm).send("What's new about transformers?")
    assert "OBEYED" not in reply and SECRET not in reply
    seen = "\n".join(m["content"] for call in llm.calls for m in call)
    assert "Transformers note" in seen  # recalled, fenced
    for text in INJECTIONS:
        assert text.splitlines()[0] not in seen
    assert sorted(f.text for f in real_store.profile.facts("ana")) == facts_before
    assert real_store.goals.list("ana") == []


def test_users_do_not_see_each_other(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, user="ana").send(
            "I am allergic to peanuts. Help me plan a dinner party."
        )
        llm = scripted(replies=lambda m: "Hello Bob.")
        bob = _session(real_store, saver, llm, user="bob")
        assert bob.send("Hello") == "Hello Bob."
        assert bob.goals() == [] and bob.history()[0]["content"] == "Hello"
    seen = "\n".join(m["content"] for call in llm.calls for m in call)
    assert "peanut" not in seen and "dinner" not in seen


def test_cli_chat_and_goals_on_the_real_store(home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(
        "assistant.app.load_llm", lambda s: scripted(replies=lambda m: "Sure.")
    )
    runner = CliRunner()
    first = runner.invoke(
        cli, ["chat", "--thread", "T"], input="I need to write a talk for PyCon.\n"
    )
    assert first.exit_code == 0, first.output
    assert "audience" in first.output
    second = runner.invoke(cli, ["chat", "--thread", "T"], input="Mostly beginners.\n/goals\n")
    assert "resuming 1 earlier turn(s)" in second.output
    assert "audience: Mostly beginners" in second.output
    table = runner.invoke(cli, ["goals"])
    assert "write a talk for PyCon" in table.output and "deadline" in table.output


def _told_days_apart(real_store, monkeypatch, turns: list[tuple[float, str]], question: str) -> str:
    """Each turn told in its own chat, `days` after the one before; then the question."""
    import time as clock

    now = [1.8e9]
    monkeypatch.setattr(clock, "time", lambda: now[0])
    with open_checkpointer(Settings()) as saver:
        for n, (days, text) in enumerate(turns):
            now[0] += 86400 * days
            _session(real_store, saver, thread=f"day{n}").send(text)
        now[0] += 86400
        return _session(real_store, saver, thread="asked").send(question)


def test_a_new_date_for_the_same_thing_answers_on_the_real_store(home, real_store, monkeypatch):
    reply = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (0, "My thesis submission deadline is 30 June 2025."),
            (1, "Bad news / good news: I got an extension. Submission is now 15 September 2025."),
        ],
        "when do I have to hand in the thesis now?",
    )
    # "submission" is far from "hand in the thesis" in meaning; it is the same thing's new date
    assert "15 September" in reply and "30 June" not in reply


def test_a_question_about_my_wife_finds_what_was_told_about_her_by_name(home, real_store):
    with open_checkpointer(Settings()) as saver:
        first = _session(real_store, saver, thread="mon")
        first.send("My wife Denise and I want to buy a caravan and tour Namibia.")
        first.send("Denise is allergic to penicillin, so the first-aid kit matters.")
        reply = _session(real_store, saver, thread="tue").send(
            "Which medication did I say my wife can't take?"
        )
    assert "penicillin" in reply


def test_a_name_asked_for_is_never_guessed_from_another_persons_fact(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="mon").send("hey, I'm Tomasz, I drive trams in Krakow.")
        reply = _session(real_store, saver, thread="tue").send("whats my wife's name")
    # the user's own name is not "the closest thing" to his wife's
    assert reply.startswith("I don't know") and "Tomasz" not in reply


def test_an_amount_below_the_floor_is_offered_as_likely_with_its_sentence(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="mon").send(
            "My wife Denise and I want to buy a caravan and tour Namibia. Budget R350 000 "
            "absolute max. Which tow vehicles are sensible for gravel roads?"
        )
        reply = _session(real_store, saver, thread="tue").send(
            "How much is the ceiling we set for the caravan?"
        )
    # "ceiling" is far from "budget" in meaning: said as a guess, with the sentence it is from
    assert reply.startswith("Probably R350 000") and "Budget R350 000 absolute max." in reply


def test_a_sentence_that_tells_and_then_asks_is_remembered_for_what_it_tells(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="sun").send(
            "So my daughter Zofia turns seven on the 9th of June and I'm planning her party."
        )
        _session(real_store, saver, thread="mon").send(
            "The budget for the whole party is £250 and I have no idea how to split it between "
            "food and the cake, could you help me divide it up sensibly?"
        )
        reply = _session(real_store, saver, thread="tue").send(
            "How much did I say I could spend on the party overall?"
        )
    # money, not her age, answers what may be spent
    assert "£250" in reply and "seven" not in reply.split(":")[0]


def test_a_name_is_never_offered_as_likely_from_a_text_that_does_not_name_the_role(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="mon").send(
            "my sister Adaeze is getting married in Enugu on 3 April, I'm doing the speech"
        )
        reply = _session(real_store, saver, thread="tue").send("what's Adaeze's fiancé called?")
    # the town she marries in is not offered as his name ("Probably Enugu")
    assert reply.startswith("I don't know") and "Probably" not in reply


def test_a_question_without_my_gets_the_value_a_told_text_holds(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="mon").send(
            "Goal for this year: running the Bengaluru half marathon in October."
        )
        reply = _session(real_store, saver, thread="tue").send("which month is the race?")
        general = _session(real_store, saver, thread="wed").send("when is the world cup final?")
    assert "October" in reply
    assert "October" not in general  # a question nothing told answers goes to the model


def test_a_later_text_that_changes_the_thing_asked_about_answers(home, real_store, monkeypatch):
    reply = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (0, "I need a new laptop, my budget is 90,000 taka. what specs matter for 40 browser tabs?"),
            (9, "also since the new job pays better I'm bumping the laptop budget up to 120,000 taka"),
        ],
        "What's my laptop budget?",
    )
    assert "120,000" in reply and "90,000" not in reply


def test_a_question_opening_with_and_asks_for_the_attribute(home, real_store):
    with open_checkpointer(Settings()) as saver:
        _session(real_store, saver, thread="mon").send("I'm a nurse at York Hospital.")
        reply = _session(real_store, saver, thread="tue").send("and where am i working these days")
    assert "York Hospital" in reply

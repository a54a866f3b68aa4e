"""Memory questions as people type them in a chat, and updates said in other words.

Cases adapted from the multi-session sets written by people who had not read the code
(bench/data/quality/memory_fresh8-10.jsonl). Real store (embedded Chroma, bundled
embeddings) and a scripted model whose replies are marked: a reply that came from the
model is plain to see.
"""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from assistant.config import Settings
from assistant.graph.answer_span import asked_role, wanted
from assistant.graph.grounding import is_question, question_part
from assistant.graph.session import ChatSession
from tests.graph.conftest import scripted
from tests.graph.test_grounding_attributes import MODEL, _ask_each


def _clock(monkeypatch) -> list[float]:
    """time.time() under the test's control: the returned list's one value is "now"."""
    import time as clock

    now = [1.8e9]
    monkeypatch.setattr(clock, "time", lambda: now[0])
    return now


def _marked_model():
    """The scripted model, its replies marked: a reply that came from it is plain to see."""
    return scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")


def _told_days_apart(store, monkeypatch, chats: list[tuple[list[str], str]]) -> list[str]:
    """Each chat its own user; each line told a day after the one before, then the question."""
    now = _clock(monkeypatch)
    llm = _marked_model()
    saver = InMemorySaver()
    out = []
    for n, (told, question) in enumerate(chats):
        for day, line in enumerate(told):
            now[0] += 86400
            ChatSession(Settings(), llm, store, saver, user_id=f"u{n}", thread_id=f"d{day}").send(line)
        now[0] += 86400
        out.append(ChatSession(Settings(), llm, store, saver, user_id=f"u{n}", thread_id="q").send(question))
    return out


def _one_session_then_asked(store, monkeypatch, told: list[str], questions: list[str]) -> list[str]:
    """One user tells the lines in one session, a minute apart; a day later asks the
    questions in another session, in order. Returns the replies."""
    now = _clock(monkeypatch)
    llm = _marked_model()
    saver = InMemorySaver()
    session = ChatSession(Settings(), llm, store, saver, user_id="u", thread_id="d0")
    for line in told:
        now[0] += 60
        session.send(line)
    now[0] += 86400
    asked = ChatSession(Settings(), llm, store, saver, user_id="u", thread_id="q")
    return [asked.send(question) for question in questions]


@pytest.mark.parametrize(
    ("message", "asks"),
    [
        ("partner's name, for the business filing", True),
        ("cat's name lol vet form", True),
        ("reno budget", True),
        ("Please tell me my wife's name, I want to check you remember", True),
        ("budget 60k", False),  # tells the value
        ("my sister's name, Priya", False),
        ("kitchen reno time", False),
        ("tell me a joke", False),
    ],
)
def test_a_bare_noun_phrase_or_a_tell_me_asks(message: str, asks: bool) -> None:
    assert is_question(question_part(message)) == asks


def test_whose_name_is_read_from_the_word_before_name() -> None:
    assert asked_role("partner's name, for the business filing") == "partner"
    assert asked_role("what's my boyfriend's name haha testing you") == "boyfriend"
    assert asked_role("whats my dogs name") == "dog"
    assert asked_role("whats my bosses name") == "boss"


def test_a_value_noun_says_what_kind_of_answer_is_wanted() -> None:
    assert wanted("truck budget?") == "number"
    assert wanted("what budget i have for this trip") == "number"
    assert wanted("can you remind me the budget i said for the new shop?") == "number"
    assert wanted("What is the deadline?") == "date"
    assert wanted("what did I say about my commute?") == "any"


def test_fragments_are_answered_from_memory(real_store) -> None:
    budget, partner = _ask_each(
        real_store,
        [
            (["want to open my own food truck. bbq + korean fusion. budget 60k. where do i start"],
             "truck budget?"),
            (["my partner Jamal and I run a bakery in Denver"], "partner's name, for the business filing"),
        ],
    )  # fmt: skip
    assert "60k" in budget and MODEL not in budget
    assert "Jamal" in partner and MODEL not in partner


def test_a_later_change_of_the_same_thing_wins_without_the_questions_words(
    real_store, monkeypatch
) -> None:
    race, builder, trip = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (["so I've signed up for the Great North Run!! it's on 7 September.",
              "ugh change of plan. knee's been playing up so I've pulled out of the Great North Run. "
              "doing the Leeds 10K instead, that's on 13 July"],
             "remind me when my race is"),
            (["kitchen reno time. 35k budget, AUD. builder is Dave Pryce, quoted 8 weeks",
              "dave pulled out. shocker. new builder is Sharon Liu, she can start 3 feb"],
             "who's doing my kitchen now"),
            (["wife Ania has birthday on 12 November and i want surprise trip to Kraków, just us two.",
              "change - Ania said she always want to see mountains in winter, so I think Zakopane "
              "instead of Kraków. same budget."],
             "where am i taking ania for her birthday?"),
        ],
    )  # fmt: skip
    assert "13 July" in race and "7 September" not in race
    assert "Sharon Liu" in builder
    assert "Zakopane" in trip


def test_the_sentence_beside_the_one_naming_the_person_is_quoted_too(real_store) -> None:
    [allergy] = _ask_each(
        real_store,
        [(["oh and my daughter Maisie is 6 and she's allergic to sesame so nothing with tahini or "
           "seeds pls, she nicks my lunch sometimes"],
          "what's Maisie allergic to again? filling in a form for her school trip")],
    )  # fmt: skip
    assert "sesame" in allergy and MODEL not in allergy


def test_a_guess_must_name_what_was_asked_about(real_store) -> None:
    mom, office = _ask_each(
        real_store,
        [
            (["my daughter turns 7 next week, she's obsessed with space and planets rn"],
             "whats my mom's name? i want to add her to the guest list"),
            (["I am preparing a grant application to the DFG, the submission deadline is 30 April."],
             "What is my office room number? I need it for the contact section."),
        ],
    )  # fmt: skip
    assert mom.startswith("I don't know") and "planets" not in mom
    assert office.startswith("I don't know") and "DFG" not in office


def test_a_told_sentence_before_the_question_mark_is_not_asked(real_store) -> None:
    told, cat = _ask_each(
        real_store,
        [
            (["I live in Bergen."], "also my cat Biscuit keeps yowling at like 2pm and wakes me up. ideas??"),
            (["also my cat Biscuit keeps yowling at like 2pm and wakes me up. ideas??"], "whats my cat called again"),
        ],
    )  # fmt: skip
    assert question_part("also my cat Biscuit keeps yowling. ideas??") == "ideas?"
    assert not told.startswith("I don't know")  # the model answers the request for ideas
    assert cat.startswith("Biscuit")  # said as the answer, not as a guess


def test_the_amount_is_the_one_by_the_noun_asked_about(real_store) -> None:
    [budget] = _ask_each(
        real_store,
        [(["hello, Tomasz here, electrician from Gdańsk. wife Ania has birthday on 12 November and i "
           "want surprise trip to Kraków, just us two. budget 3000 zł. kids (Kuba 9, Zosia 4) will stay "
           "with my mother"], "what budget i have for this trip")],
    )  # fmt: skip
    assert "3000" in budget and "two" not in budget


def test_the_same_person_asked_in_other_words(real_store) -> None:
    doctor, mom = _ask_each(
        real_store,
        [
            (["My GP, Dr. Fiona Walsh, has told me to walk more. Could you give me a walking plan?"],
             "What is the name of my doctor?"),
            (["my mum Carol is visiting from Cork next week, any ideas for rainy days?"],
             "whats my mom's name again"),
        ],
    )  # fmt: skip
    assert "Fiona Walsh" in doctor and MODEL not in doctor
    assert "Carol" in mom and MODEL not in mom


def test_kinds_of_answer_people_ask_for(real_store) -> None:
    # from memory_fresh13 (written by someone who had not read the code)
    school, anniversary, dog, cat = _ask_each(
        real_store,
        [
            (["Hello. I am a single father in Nairobi, my son Baraka is 12 and starting at Riverside "
              "Academy in January"], "what is the name of the school he is joining"),
            (["My wife Margaret and I will celebrate our 40th wedding anniversary on 22 October, and I "
              "should like to plan something special."], "And which anniversary is it we are celebrating?"),
            (["Also, our beagle Biscuit gets carsick and it's about a 34-hour drive. Any tips?"],
             "what's our dog called again, filling in the vet transfer form"),
            (["bringing my cat Pickles. best way to fly with a cat to Alaska?"],
             "lol what's my cat's name, testing you"),
        ],
    )  # fmt: skip
    assert "Riverside Academy" in school and not school.startswith("Nairobi")
    assert "40th" in anniversary
    assert "Biscuit" in dog
    assert "Pickles" in cat and MODEL not in cat


def test_asked_as_it_is_now_a_later_change_near_the_question_wins(real_store, monkeypatch) -> None:
    [venue] = _told_days_apart(
        real_store,
        monkeypatch,
        [(["hey, planning my mum's 70th birthday party in Kraków on 8 August, she doesn't know yet!!",
           "booked the restaurant Lipowa for 30 people",
           "ugh Lipowa cancelled on us (kitchen fire). we've now booked Hotel Pod Dębem instead, same "
           "date same number of people"],
          "where's mum's party going to be now?")],
    )  # fmt: skip
    assert "Hotel Pod Dębem" in venue


def test_a_date_moved_by_a_span_of_time_is_given_as_the_new_date(real_store, monkeypatch) -> None:
    # from memory_fresh76 and fresh72: the old date was given as it was
    op, defence = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My mum Halina is having a hip replacement at St Brendan's on 22 October. Can you help me "
           "put together a rota for me and my siblings for the six weeks after?",
           "Well, the hospital rang, they're short of beds so they've pushed the op back a fortnight. "
           "Can you shift the rota dates to match?"],
          "when is mum's operation now"),
         (["My defence is booked for 13 June at 14:00 in room C1.112 at Science Park. What kinds of "
           "questions do people usually get?",
           "So the second examiner can't make it after all, and they've pushed the defence back a "
           "fortnight. Same time and same room at least."],
          "when's my defence now")],
    )  # fmt: skip
    assert "5 November" in op and "22 October" not in op
    assert "27 June" in defence and "13 June" not in defence


def test_a_dose_is_not_replaced_by_a_later_sum(real_store, monkeypatch) -> None:
    # from memory_fresh76: "$5,900 a month" of the care home was given for the dose
    [dose] = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My mom Keiko has moderate dementia; she takes donepezil 5mg every evening.",
           "Update after the meeting: we've ruled out Willow Creek. Mom's going to Cedar Grove instead, "
           "they've got a room ready on 1 June and it comes to $5,900 a month."],
          "how much donepezil is she on")],
    )  # fmt: skip
    assert "5mg" in dose and "5,900" not in dose


def test_a_place_left_or_a_firm_parted_with_gives_way_to_the_new_one(real_store, monkeypatch) -> None:
    # from memory_fresh72 and fresh71: "not in Oerlikon any more" and "parted ways with"
    # say what was replaced, and "shunted us to" moves a date
    rent, drawings, start = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Also my rent in Oerlikon is CHF 1,450 and I keep wondering whether moving closer would be worth it.",
           "Okay, we did it: we're not in Oerlikon any more, my partner Deniz and I found a place in "
           "Wiedikon. It's CHF 1,980 a month between the two of us."],
          "how much is the rent now"),
         (["Our loft drawings are being done by Kate Fairclough, a local architect.",
           "We've parted ways with Fairclough, honestly she took six weeks to send one drawing. We've gone "
           "with an architectural technician called Owen Lister who's already turned round the drawings."],
          "who's doing our loft drawings these days"),
         (["The landscaper is Sam Thornbury from Greenline, he's doing the fence and the patio starting 25 April.",
           "Couple of changes. Greenline had a big job overrun so they've shunted us to the 9th of May."],
          "when does the landscaper start now")],
    )  # fmt: skip
    assert "1,980" in rent and "1,450" not in rent
    assert "Owen Lister" in drawings and "Fairclough" not in drawings
    assert "9" in start and "May" in start and "25 April" not in start


def test_a_thing_told_in_other_words_is_quoted_as_the_closest(real_store, monkeypatch) -> None:
    # from memory_fresh73: "health cover" told, "health insurance" asked; it was declined as
    # never told. Quoted after "I don't know exactly": the user sees it, and it is no claim.
    insurance, dentist = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I'm doing an exchange semester at the University of Melbourne from February.",
           "I paid AUD 680 for the OSHC health cover, is that about normal for one semester?"],
          "what did my health insurance cost"),
         (["I'm doing an exchange semester at the University of Melbourne from February."],
          "what's my dentist's name")],
    )  # fmt: skip
    assert "680" in insurance and "don't know" in insurance
    assert "don't know" in dentist and "Melbourne" not in dentist


def test_a_changed_amount_replaces_the_goals_older_slot(real_store, monkeypatch) -> None:
    # from memory_fresh12: the goal kept 3000 euro; the later turn says it is now 2500
    budget, when = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (["Hallo! I want to plan a trip to Japan with my friend Tobias in April. My budget is 3000 euro.",
              "Ah and change of plans: we go in October now instead, the flights are much cheaper. Also my "
              "budget is now 2500 euro because I need a new laptop :/"],
             "what's my budget for the japan trip?"),
            (["Hallo! I want to plan a trip to Japan with my friend Tobias in April.",
              "Ah and change of plans: we go in October now instead, the flights are much cheaper."],
             "when are we going, remind me"),
        ],
    )  # fmt: skip
    assert "2500" in budget and "3000" not in budget
    assert "October" in when


def test_a_value_asked_with_do_i_need_is_no_request_for_advice(real_store) -> None:
    [score] = _ask_each(
        real_store,
        [(["hola! im valentina from guadalajara, studying english in dublin. i need 7.5 in IELTS for my "
           "masters application and my exam is 22 june. can u help me with writing task 2"],
          "what ielts score do i need again?")],
    )  # fmt: skip
    assert "7.5" in score and MODEL not in score


def test_a_time_asked_with_do_i_need_to_is_no_request_for_advice(real_store) -> None:
    # from memory_fresh50 (written by someone who had not read the code)
    [start] = _ask_each(
        real_store,
        [(["First day at the new job is Wednesday 2 October at 9am.",
           "Quick change from HR: day one starts at 8:30 now, not 9."],
          "what time do i need to be there on the first day?")],
    )  # fmt: skip
    assert "8:30" in start and MODEL not in start


def test_a_later_text_that_keeps_the_old_value_does_not_replace_it(real_store, monkeypatch) -> None:
    # from memory_fresh11: the later turn moves the date and the house, not the companion
    who, day, doctor = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (["Hola! I'm Claudia, 55, I live in Valparaíso. Next year I'm walking the Camino Francés with "
              "my friend Paz Errázuriz. We start in Saint-Jean-Pied-de-Port on 4 May. What should I pack?",
              "Big news: we sold the house and moved to La Serena to be closer to my son Tomás! Also Paz "
              "and I pushed the Camino start to 11 May because the flights were cheaper."],
             "who's coming with me on the camino?"),
            (["Hola! I'm Claudia. Next year I'm walking the Camino Francés with my friend Paz Errázuriz. "
              "We start in Saint-Jean-Pied-de-Port on 4 May.",
              "Big news: we sold the house and moved to La Serena to be closer to my son Tomás! Also Paz "
              "and I pushed the Camino start to 11 May because the flights were cheaper."],
             "What day do we begin walking?"),
            (["My doctor is Dr. Priya Raman at the Cleveland Clinic and she started me on metformin.",
              "Quick update - Dr. Raman upped the metformin to 1000 mg twice a day. Stomach's been ok so far."],
             "Who's my doctor again? Need to fill out a form."),
        ],
    )  # fmt: skip
    assert "Paz Errázuriz" in who and "Tomás" not in who
    assert "11 May" in day
    assert "Priya Raman" in doctor and "Stomach" not in doctor


def test_a_date_asked_of_it_is_the_goals_latest(real_store, monkeypatch) -> None:
    [deadline] = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I want to get a new pizza oven installed in my restaurant by 15 February, budget 9000 euros",
           "update. quotes came back higher, bank approved 11,500 euros so thats the oven budget now. "
           "installer cant come till later so new deadline is 30 March"],
          "and by when has it got to be finished")],
    )  # fmt: skip
    assert deadline.startswith("30 March")


def test_the_day_a_text_was_said_answers_only_what_was_done(real_store, monkeypatch) -> None:
    birthday, school = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (["Hello. I am a single father in Nairobi, my son Baraka is 12",
              "Baraka has asthma and he wants to join the football team."],
             "when is Baraka's birthday? I want to plan ahead"),
            (["Hello. I am a single father in Nairobi, my son Baraka is 12 and starting at Riverside "
              "Academy in January", "Baraka has asthma and he wants to join the football team."],
             "what is the name of the school he is joining"),
        ],
    )  # fmt: skip
    assert birthday.startswith("I don't know") and "2027" not in birthday
    assert "Riverside Academy" in school and not school.startswith("Nairobi")


def test_a_change_elsewhere_in_a_later_text_does_not_move_the_answer(real_store, monkeypatch) -> None:
    # from memory_fresh11: the operation moved; the daughter coming from Hamburg moved nothing
    [city] = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My wife Helga will get a knee replacement on 12 November, at the hospital in Erlangen. She "
           "can not climb the stairs after. How must I prepare the house?",
           "hospital called today, the operation is moved to 3 December. Also our daughter Sabine comes "
           "from Hamburg to help."],
          "in which city is the hospital?")],
    )  # fmt: skip
    assert "Erlangen" in city and "Hamburg" not in city and "December" not in city


def test_requests_for_an_opinion_still_go_to_the_model(real_store) -> None:
    opinion, advice = _ask_each(
        real_store,
        [
            (["My daughter Maisie is 6 and loves drawing."], "tell me what you think about my plan to homeschool"),
            (["My daughter Maisie is 6 and loves drawing."], "is she too young for a phone?"),
        ],
    )
    assert MODEL in opinion and MODEL in advice


def test_the_same_guess_is_not_quoted_again_for_another_question(real_store) -> None:
    # from memory_fresh15: two questions memory does not answer, closest to one message
    llm = scripted(replies=lambda m: f"{MODEL} on {m[-1]['content']}")
    saver = InMemorySaver()
    first = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id="monday")
    first.send(
        "my dad Antônio has alzheimer, he is 78. he lives in a care home in Porto Alegre called "
        "Residencial Bem Viver. my brother Rafael visit him every sunday"
    )
    later = ChatSession(Settings(), llm, real_store, saver, user_id="u", thread_id="friday")
    replies = [
        later.send(q)
        for q in (
            "what is the name of dad's care home",
            "what medication dad is taking now? the nurse asked me and i forgot",
        )
    ]
    sentence = "my dad Antônio has alzheimer, he is 78."
    assert sum(sentence in r for r in replies) <= 1, replies


def test_questions_about_where_the_user_comes_from_and_works(real_store, monkeypatch) -> None:
    # from memory_fresh15: "from X" is where the user comes from, not where they live; the
    # company named after its kind is the employer, not the role
    city, home, company = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Hello. I am Oksana, from Kharkiv, now living in Prague with my son Maksym since 2022."],
          "which city I come from in Ukraine?"),
         (["Hello. I am Oksana, from Kharkiv, now living in Prague with my son Maksym since 2022."],
          "where do I live?"),
         (["now I work in hotel as housekeeping, morning shift from 6.",
           "Good news!! I start new job 1 of April as assistant accountant in logistics company, name is "
           "Trans-Cargo. no more hotel :)"],
          "what is the name of company where I work now?")],
    )  # fmt: skip
    assert "Kharkiv" in city and "Prague" not in city
    assert "Prague" in home
    assert "Trans-Cargo" in company


def test_updates_and_values_as_typed_in_lower_case(real_store, monkeypatch) -> None:
    # from memory_fresh14/15: "16 may" typed in lower case; "6200 euro not 5000" names the
    # old number too; the end of a shift asked of "10pm to 6am"
    album, surgery, shift = _told_days_apart(
        real_store,
        monkeypatch,
        [(["im a musician, my debut album comes out on 4 april. need promo ideas",
           "release moved. now 16 may. vinyl pressing delay. annoying"],
          "when's the album out now"),
         (["my mom in Medellín need knee surgery. I'm saving 5000 euro for it, i have 2100 now.",
           "bad news the clinic send new quote, the surgery now cost 6200 euro not 5000"],
          "how much i need total for mom's surgery"),
         (["I work part time night shift at Lawson near Namba station, 10pm to 6am."],
          "what time my shift finish in the morning?")],
    )  # fmt: skip
    assert "16 may" in album.lower() and "april" not in album.lower()
    assert "6200" in surgery
    assert "6am" in shift and "10pm" not in shift


def test_questions_typed_without_their_grammar(real_store, monkeypatch) -> None:
    # from memory_fresh15: a fragment with an adjective before "name", a question opening
    # with its preposition, "max money"; and where someone works is the workplace
    manager, city, money, salon = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My manager Mr. Karim Haddad is very strict about leave requests. How I write a polite email?"],
          "my manager full name pls, I write the email now"),
         (["my mom in Medellín need knee surgery (replacement). can u make a saving plan?"],
          "in what city my mom lives"),
         (["want to make german driving licence. driving school is Fahrschule Keller. budget max 3000 euro"],
          "max money i want spend for licence?"),
         (["my girlfriend Valentina helps also, she works in a hair salon in Lavapiés"],
          "where valentina works again?")],
    )  # fmt: skip
    assert "Karim Haddad" in manager and MODEL not in manager
    assert "Medellín" in city and MODEL not in city
    assert "3000" in money
    assert "salon" in salon


def test_names_typed_in_lower_case_are_read_whole(real_store, monkeypatch) -> None:
    # from memory_fresh18/19: surnames typed in lower case; a lower-case word that is a
    # common noun after "my partner" is no name
    manager, advisor, partner = _told_days_apart(
        real_store,
        monkeypatch,
        [(["i also work at a cafe called little fig on weekends, my manager sasha petrovic is chill"],
          "whats my boss at little fig called"),
         (["advisor at the bank is chiara ferri, she wants me to look at a mutuo with fixed rate. pros cons?"],
          "whats the name of my bank advisor"),
         (["my partner meeting went badly today, ugh"], "what's my partner's name?")],
    )  # fmt: skip
    assert "sasha petrovic" in manager.lower()
    assert "chiara ferri" in advisor.lower()
    assert not partner.lower().startswith("meeting") and "don't know" in partner


def test_a_message_that_refers_back_is_read_with_the_one_before(real_store, monkeypatch) -> None:
    # from memory_fresh17: "she" of the next message is the cat just named; "his name" is the
    # new boss's, not the user's
    food, boss, name = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["cat question. Mochi, 12 yo, just diagnosed with early kidney disease. what should change?",
         "she's on a renal diet now, Royal Canin Renal. hates it.",
         "my new boss starts monday, kind of nervous",
         "his name is Raj Patel, he came from Deloitte"],
        ["what food is mochi on", "what's my new boss called?", "what's my name?"],
    )  # fmt: skip
    assert "Royal Canin" in food
    assert "Raj Patel" in boss
    assert "Raj Patel" not in name


def test_the_same_value_for_another_question_is_no_repeated_line(real_store, monkeypatch) -> None:
    # from memory_fresh17: two answers from one message quote it once
    from assistant.graph.reply_checks import repeated_lines

    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["diff topic. daughter Hana has piano recital on 9 May, she's playing Clair de Lune. nervous wreck. "
         "how to help her calm down"],
        ["which piece is hana performing", "recital date?"],
    )  # fmt: skip
    for n, reply in enumerate(replies):
        assert not repeated_lines(reply, replies[:n]), replies
    assert "Clair de Lune" in replies[0] and "9 May" in replies[1]


def test_updates_said_in_other_words_and_questions_asked_with_help(real_store, monkeypatch) -> None:
    # from memory_fresh19: "from now on" in a user's update is no order to the assistant;
    # "goal" and "target" of a marathon time; "Help me with my LinkedIn - which company ..."
    physio, goal, company = _told_days_apart(
        real_store,
        monkeypatch,
        [(["my physio is Gwen Adeyemi, I see her every Tuesday at the clinic near Headingley.",
           "quick update - Gwen moved my physio sessions to Thursdays from now on, Tuesdays clash with her new clinic hours"],
          "hey, what day do I have physio again these days?"),
         (["hola! Sofía here, Buenos Aires. Signed up for my first full marathon abroad, Valencia in December!! goal is under 3:45",
           "Lucía thinks I'm faster than I believed, so we moved my target to 3:30. scary"],
          "what's my marathon goal time again?"),
         (["I'm Kenji, structural engineer in Osaka. I work at Hanabishi Construction.",
           "Change: I accepted an offer from Kitamura Design. Started this Monday."],
          "Help me with my LinkedIn - which company do I work at now?")],
    )  # fmt: skip
    assert "Thursday" in physio
    assert "3:30" in goal
    assert "Kitamura Design" in company


def test_a_name_given_to_the_thing_asked_and_an_update_of_that_thing(real_store, monkeypatch) -> None:
    # from memory_fresh15/17/18: "which bootcamp" is its name; "the name Alba"; one shared
    # word is enough for an update when it is the thing asked, unless another one is meant
    bootcamp, baby, exam, math = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I'm looking at the Lighthouse Labs web development bootcamp and I've set aside a budget of $12,000 for it",
           "I'm cutting the bootcamp budget down to $8,500. Same bootcamp, just fewer extras."],
          "Which bootcamp was I looking at, remind me?"),
         (["My partner Javier and I are expecting our first baby, due date is 2 August.",
           "We found out it's a girl!! We're leaning towards the name Alba."],
          "what name are we leaning towards for the baby?"),
         (["theory exam is 15 may. what is best app for the questions?",
           "exam moved, i am on night shift that week. new date 3 june"],
          "when is my theory exam"),
         (["my math exam is on 15 may. any tips?", "ugh my physics exam moved, new date 3 june"],
          "when is my math exam")],
    )  # fmt: skip
    assert "Lighthouse Labs" in bootcamp
    assert "Alba" in baby
    assert "3 june" in exam.lower()
    assert "15 may" in math.lower()


def test_a_name_after_a_sign_is_the_name_not_the_sign() -> None:
    # from memory_fresh22: "physio = Wanjiru Kamau" (the tagger calls "=" a proper noun)
    from assistant.graph.answer_span import span

    found = span("whats my physio's name, need it for insurance", "physio = Wanjiru Kamau, sees me tuesdays.")
    assert found.typed and found.text == "Wanjiru Kamau"


@pytest.mark.parametrize(
    ("question", "text", "value"),
    [
        # from memory_fresh20-25 (scored blind, then read): the doer of the asked verb
        ("n whos selling it me", "my mate jonno is selling his corsa for 2,800 so thats my budget now", "Jonno"),
        ("who is helping with the move", "my friend Tomasz help us with his van on saturday", "Tomasz"),
        # a name the tagger takes for a place, beside whom it is
        ("who is helping me with the application?",
         "My staff Chiamaka is now my manager, she will be working on the grant application with me.", "Chiamaka"),
        # the value said of the asked noun
        ("What is my FIDE rating at the moment?", "after last weekend's tournament my FIDE rating went up to 1688.", "1688"),
        ("What was Lukas allergic to?", "My son Lukas is 7 and he has a strong allergy against hazelnuts.", "hazelnuts"),
        # an amount with its currency word, before a day of a date range
        ("how much did we say we had for that trip",
         "going to porto with my best friend Inés, 5-8 december. we have like 600 euros total", "600 euros"),
        # a town typed in lower case, found once capitalised
        ("where am i moving to again?", "going amsterdam instead, new co.", "Amsterdam"),
        ("roomates name?", "living in delft w my roommate sven.", "Sven"),
    ],
)  # fmt: skip
def test_values_read_off_the_parse_of_chat_typing(question: str, text: str, value: str) -> None:
    from assistant.graph.answer_span import span
    from assistant.graph.grounding import spelled_out

    found = span(spelled_out(question), text)
    assert found.typed and found.text == value, found


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("where is the wedding holding again?", "we've cut the budget to 6.5 million naira because of the dollar rate."),
        ("what's the name of Malik's school?", "My husband Malik works as a nurse at St. Ambrose Medical Center."),
        ("what company hired rafael?", "big news, we moved to Porto!! Rafael got a job offer here"),
        ("whats my boss called", "i have a meeting with my boss tomorrow."),
    ],
)  # fmt: skip
def test_no_value_of_another_kind_is_taken_for_the_asked_one(question: str, text: str) -> None:
    from assistant.graph.answer_span import span

    assert not span(question, text).typed


def test_a_short_question_is_read_with_the_one_before(real_store, monkeypatch) -> None:
    # from memory_fresh20/22: "date?", "n whos selling it me" ask about what was just asked
    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["training for a marathon. nairobi, october 27. goal sub 3:30",
         "tryna save for a car, want one by christmas. budget 4k max"],
        ["which race am i doing", "date?"],
    )  # fmt: skip
    assert "nairobi" in replies[0].lower() and MODEL not in replies[0]
    assert "october 27" in replies[1].lower()


def test_and_with_a_bare_noun_after_a_question_asks_the_same_of_it(real_store, monkeypatch) -> None:
    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["Can you help me write a note to school? Maya has a dentist appointment on 23 June at 2pm."],
        ["what's maya's appointment for", "and the date"],
    )  # fmt: skip
    assert "23 June" in replies[1] and MODEL not in replies[1]
    assert not is_question("and the date")  # alone it asks nothing


def test_a_sum_of_money_is_not_replaced_by_a_number_of_another_kind(real_store, monkeypatch) -> None:
    # from memory_fresh46: "the men's 1s" came back for "how much were the subs"
    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["I'm captaining the 2nd XI at Harrowgate Hockey Club this season; annual subs are £185, due by the end of September.",
         "Bit of a shake-up at the club. Dermot's gone to coach the men's 1s, so Ines Carvalho has taken over from him with us.",
         "Rent for the flat went up, it's 900 now."],
        ["how much were the subs this season", "how much is the rent now"],
    )  # fmt: skip
    assert "£185" in replies[0] and "1s" not in replies[0]
    assert "900" in replies[1]  # a plain number still says a sum


def test_a_day_said_alone_in_an_update_is_read_in_the_month_it_replaces(real_store, monkeypatch) -> None:
    # from memory_fresh37 and 44: "the 23rd" was read in the month the chat took place
    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["Gas engineer is booked for 19 May. My brother Owen will sign the landlord bits.",
         "We're flying to Crete on 2 August and back on 16 August.",
         "The gas man can't do the 19th after all, he's coming on the 23rd.",
         "Jet2 cancelled our flight back, so we're not leaving till the 18th now."],
        ["When's the gas safety check happening", "when's our return flight again"],
    )  # fmt: skip
    assert "23 May" in replies[0], replies[0]
    assert "18 August" in replies[1], replies[1]


def test_a_value_said_cancelled_in_a_later_text_does_not_replace_another_things(real_store, monkeypatch) -> None:
    # from memory_fresh29: the Hakone ryokan's name became the cancelled Kyoto hotel's
    from assistant.graph.updates import dropped

    assert dropped("Gion Hotel Sakura", "Change of plans: we cancelled Gion Hotel Sakura because we found a machiya.")
    assert not dropped("Ume-an", "we cancelled Gion Hotel Sakura because we found a machiya called Ume-an.")
    replies = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["We booked the ryokan in Hakone! It's called Yumoto Sansokan, two nights with a private onsen.",
         "For Kyoto we took Gion Hotel Sakura for four nights.",
         "Change of plans in Kyoto: we cancelled Gion Hotel Sakura because Sofia found a little machiya townhouse called Ume-an in Higashiyama."],
        ["and the ryokan in Hakone, what was it called?"],
    )  # fmt: skip
    assert "Sansokan" in replies[0], replies[0]


def test_updates_that_name_what_they_replace(real_store, monkeypatch) -> None:
    # from memory_fresh20-25: the update names the old value ("skip nairobi", "scrap the
    # 4k", "not 1 February anymore"), or shares only the value's noun ("budget")
    race, car, seller, deadline, hen, advisor = _told_days_apart(
        real_store,
        monkeypatch,
        [(["training for a marathon. nairobi, october 27. goal sub 3:30",
           "knee issue. physio says skip nairobi. switching to kigali instead, may 18 next year"],
          "which race am i doing"),
         (["tryna save for a car, want one by christmas. budget 4k max",
           "update on car ting, scrap the 4k. my mate jonno is selling his corsa for 2,800 so thats my budget now"],
          "whats my car budget again"),
         (["tryna save for a car, want one by christmas. budget 4k max",
           "update on car ting, scrap the 4k. my mate jonno is selling his corsa for 2,800 so thats my budget now"],
          "who's selling me the car?"),
         (["I want apply for master in Water Management at TU Delft, deadline is 1 February.",
           "Delft changed the deadline, now it is 15 January, not 1 February anymore."],
          "when I must submit the Delft application?"),
         (["planning my sister's hen do. budget is about £150 per person, there'll be 9 of us",
           "a few people can't make it anymore so budget's come down to £120 a head."],
          "and how much per person are we working with for the hen thing?"),
         (["My advisor is Prof. Rebecca Lindqvist. My thesis defense is planned for August 22.",
           "Some changes: Rebecca is going on sabbatical so Dr. Tomás Herrera is taking over as my main advisor."],
          "who's supervising me now?")],
    )  # fmt: skip
    assert "kigali" in race.lower()
    assert "2,800" in car
    assert "Jonno" in seller
    assert "15 January" in deadline and "1 February" not in deadline
    assert "120" in hen
    assert "Herrera" in advisor


def test_questions_typed_as_fragments_or_asked_last(real_store, monkeypatch) -> None:
    # from memory_fresh23/25: "Current employer?", "roomates name?", "Daughter's name",
    # "the date of the wedding, remind me", "How much do I need saved before we go?"
    employer, roommate, daughter, wedding, saved = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Product manager at Kora Payments.", "Update: I've left Kora Payments. Started at Brightline Fintech as Senior PM this Monday."],
          "Current employer?"),
         (["hey so im jun, 21, mech eng student at tu delft, living in delft w my roommate sven."], "roomates name?"),
         (["Daniel Okonkwo, 36, Lagos. Married to Ifeoma; one daughter, Adaeze, 3."], "Daughter's name"),
         (["I am marrying Pablo Ortega on 19 September 2026 and the planning is eating my life.",
           "Can you give me a timeline month by month until the wedding?"],
          "the date of the wedding, remind me"),
         (["We're planning to relocate to Toronto. We need CAD 30,000 in savings before we go."],
          "How much do I need saved before we go?")],
    )  # fmt: skip
    assert "Brightline" in employer
    assert "Sven" in roommate
    assert "Adaeze" in daughter
    assert "19 September" in wedding
    assert "30,000" in saved
    for reply in (employer, roommate, daughter, wedding, saved):
        assert MODEL not in reply


def test_a_place_of_another_kind_is_no_likely_answer(real_store, monkeypatch) -> None:
    # from memory_fresh23: "which hotel did we book?" is not answered by "My GP is Dr. Mbeki"
    (hotel,) = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My GP is Dr. Helen Mbeki, lovely woman, and she has me on levothyroxine every morning.",
           "We're off to Lisbon in May for our anniversary."],
          "And which hotel did I tell you we booked over there?")],
    )  # fmt: skip
    assert "GP" not in hotel and "know" in hotel


def test_a_new_job_said_in_passing_is_where_the_user_works_now(real_store, monkeypatch) -> None:
    # from memory_fresh20/21: "quit chipotle ... got a job at the campus library now"
    library, musgrave = _told_days_apart(
        real_store,
        monkeypatch,
        [(["i work at chipotle on guadalupe st part time. savin up for a rtx 4070",
           "quit chipotle finally lmaooo. got a job at the campus library now, way chiller"],
          "where do i work rn"),
         (["I work in warehouse at Amazon in Baldonnell, night shifts, is very tiring",
           "good news!! i got new job, forklift trainer at Musgrave, day shifts, i start next month. i leave amazon"],
          "where do i work now?")],
    )  # fmt: skip
    assert "library" in library
    assert "Musgrave" in musgrave


def test_a_text_that_does_not_say_the_asked_thing_is_only_the_closest(real_store, monkeypatch) -> None:
    # from memory_fresh20/25 (never told): the nearest message is shown as such, never as
    # the answer
    shoes, hospital = _told_days_apart(
        real_store,
        monkeypatch,
        [(["doing the half at melbourne marathon festival oct 13. goal sub 2:15",
           "barista so im on my feet all day already, how many runs a wk"],
          "what shoes did i say i run in"),
         (["oi! my name is Thiago Mendes, i am nurse in a hospital in Porto Alegre, Brazil."],
          "which hospital i work, you remember the name of it?")],
    )  # fmt: skip
    for reply in (shoes, hospital):
        assert reply.startswith("I don't know"), reply


@pytest.mark.parametrize(
    ("message", "asks"),
    [
        ("their account lead, whats his name", True),
        ("total budget cap for everything?", True),
        ("thanks, what a day", False),
        # the question word left where its answer goes, as the parse reads it
        ("parents evening is when now", True),
        ("imogen's hamster is called what", True),
        ("doors open at what time", True),
        ("I don't know what to do", False),
        ("call me when you are done", False),
        ("depends on what time we finish", False),
        ("the bakery is where I work", False),
        # a value's noun that opens a fragment about a thing of the user's
        ("name of his coach", True),
        ("final price for the fuse box job", True),
        ("wholesale price per mug for the whitstable shop", True),  # "per mug", no person
        ("name of the game is patience", False),
    ],
)
def test_a_question_after_its_thing_or_a_value_fragment_asks(message: str, asks: bool) -> None:
    assert is_question(question_part(message)) == asks


@pytest.mark.parametrize(
    ("told", "question", "value"),
    [
        pytest.param(  # an update that names what it replaces beats a later change of another thing
            ["My manager Oksana just told us she's leaving for a job in Vienna.",
             "Update: Oksana's replacement is Teodor, he came over from the billing team.",
             "Oh and the clinic called, my physio had to reschedule, the session is now 4 March instead of the 2nd."],
            "who's my manager now?", "Teodor", id="update-naming-the-old-value",
        ),
        pytest.param(  # a value asked as it is now comes from memory
            ["guest count is 80 and my dad is stressing about the seating plan",
             "sooo the guest list grew, we're at 96 now. does that change the tables much"],
            "how many ppl coming now", "96", id="value-as-it-is-now",
        ),
        pytest.param(  # a date moved to a bare day is said with its month
            ["The fire safety inspection is booked for Monday 9 June at 10am. What do they look at?",
             "the inspector's office rang, they had a clash on the 9th so they'll come Tuesday the 17th instead"],
            "when's the inspection", "17 June", id="bare-day-in-the-old-month",
        ),
        pytest.param(  # the one who took over is linked by the old holder's name, not the role word
            ["My piano teacher is Ilse Brandauer, lessons are on Mondays.",
             "Ilse is retiring to the coast, sadly. From next term I'm with Mr Kofi Mensah."],
            "who teaches me piano these days", "Kofi Mensah", id="successor-by-the-old-name",
        ),
        pytest.param(  # ... and along a chain of hand-overs
            ["Our health visitor is Marta, she comes on Tuesdays.",
             "Marta's gone off on maternity leave, we've got Ruth Ellis for now.",
             "Ruth Ellis has left the team already, Yusuf Adeyemi replaced her."],
            "whos our health visitor", "Yusuf Adeyemi", id="successor-chain",
        ),
        pytest.param(  # a role word the tagger reads as a surname ("baker"), and "stepping in as"
            ["My head baker is Tomasz, he starts at 4am.",
             "Keiko is stepping in as head baker from Monday, Tomasz wants fewer hours."],
            "who's my head baker now?", "Keiko", id="stepping-in-as-a-role-read-as-a-surname",
        ),
        pytest.param(  # no hand-over: the one who moved is the user, not the friend named
            ["My friend Ines Duarte is walking the Camino with me in May.",
             "Big news: we moved to Braga to be near my son Tiago! Also Ines and I pushed the start to 11 May."],
            "who's walking the camino with me?", "Ines Duarte", id="no-successor-when-someone-else-moved",
        ),
        pytest.param(  # a goal said "now" moves no value of another thing
            ["Booked the microscope for Thursday at 9am, 3 hours. Help me plan the imaging session?",
             "so the facility bumped me. I'm on the microscope Friday 1pm instead, still 3 hrs.",
             "can you adjust the plan? I'll have to do the staining Thursday night now"],
            "which day am I on the microscope", "Friday", id="a-goal-moves-only-its-own-thing",
        ),
        pytest.param(  # a sentence that reads as an order is dropped, not the whole message
            ["Allotment rent is £48 per year.",
             "Hm, the secretary say now the tap only come on in April. Also the committee put the rent up, it's £55 a year."],
            "allotment rent these days?", "£55", id="order-like-sentence-beside-an-update",
        ),
        pytest.param(  # the clause that says what it is now, not the one that says what fell through
            ["The summer workshop is in Porto, 3-7 June. Any packing tips?",
             "Plans changed, the Porto workshop got cancelled, so we're doing the one in Gdansk instead."],
            "where's the workshop now", "Gdansk", id="value-of-the-clause-as-it-is-now",
        ),
        pytest.param(  # an offer raised in a negotiation, and a start "rather than" the old day
            ["I've accepted a post at Lakeside Clinic. The offered salary is £38,500.",
             "Good news: after some negotiation, Lakeside have agreed to £39,200. They asked if I could start on 17 February rather than the 3rd."],
            "what salary did I end up with?", "£39,200", id="negotiated-amount",
        ),
    ],
)  # fmt: skip
def test_the_current_value_is_said_from_memory(
    real_store, monkeypatch, told: list[str], question: str, value: str
) -> None:
    (reply,) = _one_session_then_asked(real_store, monkeypatch, told, [question])
    assert value in reply and MODEL not in reply, reply


def test_who_asked_by_what_they_do_or_by_whom_the_user_reports_to(real_store, monkeypatch) -> None:
    flour, boss = _one_session_then_asked(
        real_store,
        monkeypatch,
        [
            "I need help comparing flour quotes. Right now everything comes from Moulin Roux, 400 kg a month.",
            "Moulin Roux put a fuel surcharge on everything, so as of today Carrow Mills does our flour.",
            "ugh, Dana got moved to the platform team so I report to Hollis Grange now.",
        ],
        ["who's our flour guy now", "who's my boss these days?"],
    )
    assert "Carrow Mills" in flour and MODEL not in flour, flour
    assert "Hollis Grange" in boss and MODEL not in boss, boss


def test_a_relative_clause_in_a_long_message_is_no_question() -> None:
    told = "I work in the group of Prof. Matthias Brandt, who is also my supervisor."
    assert not is_question(told)


def test_the_sound_guy_is_not_any_name_told(real_store, monkeypatch) -> None:
    (sound,) = _one_session_then_asked(
        real_store,
        monkeypatch,
        ["Declan Ruiz is the bandleader, he writes everything and sends voice memos at 2am."],
        ["what's the sound guy's name at that venue?"],
    )
    assert "Declan" not in sound or "closest" in sound, sound


def test_a_replaced_value_is_read_from_the_clause_that_says_what_it_is_now() -> None:
    from assistant.graph.updates import instead_of

    assert instead_of("Could I begin on 17 February rather than the 3rd, they asked.", "3 February") == (
        "17 February"
    )
    assert instead_of("so I think Zakopane instead of Kraków", "Kraków") == "Zakopane"


def test_question_words_typed_short_are_read_as_questions() -> None:
    from assistant.graph.answer_span import wanted
    from assistant.graph.grounding import spelled_out

    assert spelled_out("wat time is it") == "what time is it"
    assert wanted(spelled_out("wht time do my shifts start")) == "time"
    assert spelled_out("wen do we fly") == "when do we fly"


def test_a_value_never_told_of_a_thing_the_user_named_is_declined(real_store, monkeypatch) -> None:
    # asked as a request ("can you tell me ..."), or of a place by the name the user gave it
    postcode, fee = _one_session_then_asked(
        real_store,
        monkeypatch,
        [
            "We're moving to Exeter, new address is 4 Ferndale Road. Any packing tips?",
            "Dad goes into respite care at Oakdene Lodge for two weeks from 6 October.",
        ],
        ["Can you tell me the postcode of the new house", "How much does Oakdene charge a week?"],
    )
    assert postcode.startswith("I don't know") and MODEL not in postcode, postcode
    assert fee.startswith("I don't know") and MODEL not in fee, fee


def test_who_does_it_now_when_the_old_one_is_still_named_or_the_new_one_typed_in_lower_case(
    real_store, monkeypatch
) -> None:
    # from memory_fresh45 and memory_fresh33 (written by people who had not read the code)
    nephew, visitor = _told_days_apart(
        real_store,
        monkeypatch,
        [
            (["His name is Darren Holt, he is doing our bathroom from 14 April.",
              "Small change of plan. Darren hurt his back so his nephew Kieran is doing our job now, "
              "Darren only come to check at the end."],
             "who is actually doing the bathroom now?"),
            (["my health visitor is called siobhan, she's coming tuesday for the 9 month check",
              "siobhan's gone off on mat leave, we've got a new hv called gwen"],
             "whos our health visitor now"),
        ],
    )  # fmt: skip
    assert "Kieran" in nephew and "Darren" not in nephew
    assert "gwen" in visitor.lower() and "siobhan" not in visitor.lower()


def test_a_move_that_still_names_the_old_place_gives_the_new_one(real_store, monkeypatch) -> None:
    # from memory_fresh44 (written by someone who had not read the code)
    told = [
        "I'm organising the 20-year reunion for my old class. We've got the function room at the Red "
        "Lion in Dorking on Saturday 15 November. Can you draft a Facebook post inviting people?",
        "Tickets will be £35 a head, which covers a buffet. My co-organiser Gareth Pugh is handling "
        "the money. Can you suggest a simple spreadsheet layout for tracking who's paid?",
        "We've had 80-odd yeses so the Red Lion's way too small. We've moved it to the cricket pavilion "
        "at Dorking Cricket Club, same night. Gareth's had to step back because of the new baby, so "
        "Nadia Karimi is collecting the money now.",
    ]
    venue, payee = _told_days_apart(
        real_store,
        monkeypatch,
        [(told, "where's the reunion being held now"), (told, "who do people pay for tickets now?")],
    )
    assert "Cricket" in venue and "Red Lion" not in venue
    assert "Nadia" in payee and "Gareth" not in payee  # "Nadia ... is collecting the money now"


def test_stepping_back_from_a_role_is_leaving_it() -> None:
    from assistant.graph.updates import LEFT

    assert LEFT.search("Gareth's had to step back because of the new baby")
    assert LEFT.search("Priya stepped back from the committee")
    assert not LEFT.search("Gareth is handling the money")


def test_a_new_price_after_the_old_firm_went_bust(real_store, monkeypatch) -> None:
    # from memory_fresh37 (written by someone who had not read the code)
    [price] = _told_days_apart(
        real_store,
        monkeypatch,
        [(["We need to clear my uncle's house in Sheffield. I've got a clearance company, Clearview, who quoted £900.",
           "You'll never guess - Clearview have gone bust. My brother-in-law's mate Lee has a van and will do "
           "it for £600 cash, same Saturday. Is that risky?"],
          "how much are we paying for the clearance now")],
    )  # fmt: skip
    assert "£600" in price and "£900" not in price


def test_a_change_said_as_taking_over_or_putting_up_gives_the_new_value(real_store, monkeypatch) -> None:
    # from memory_fresh53-58 (written by someone who had not read the code)
    treasurer, room, roofer, captain = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Sign the rota email off from me and Annette Shaw, she's our treasurer.",
           "Annette's stepping down as treasurer and Kwame Boateng is taking over from June."],
          "who's the treasurer now?"),
         (["Planning my gran's 80th in the function room at the Royal Oak, they want £250 for the room.",
           "Declan's got a work trip so my cousin Aoife is doing the speech instead. And the Royal Oak have put "
           "the room up to £275, cheeky."],
          "how much is the pub charging for the room now?"),
         (["Our roofer Dariusz quoted £1,340 to redo the flashing around the chimney.",
           "Bad news, Dariusz broke his wrist so his business partner Kenji is taking the job over."],
          "remind me who's actually doing the roof now"),
         (["Our captain Hedda Lindqvist asked me to write up last week's match for the club website.",
           "Hedda's stepped down because of her new job, and Obinna Eze's captain now."],
          "who's our team captain these days")],
    )  # fmt: skip
    assert "Kwame" in treasurer and "Annette" not in treasurer
    assert "£275" in room and "£250" not in room
    assert "Kenji" in roofer and "Dariusz" not in roofer
    assert "Obinna" in captain and "Hedda" not in captain


def test_a_move_asked_as_it_is_now_and_a_town_with_its_region(real_store, monkeypatch) -> None:
    offsite, home = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I'm organising our team offsite on Tuesday 22 October at The Granary in Stroud.",
           "Ugh, The Granary double-booked us, so we've moved to Mill House Barn, same date."],
          "where's the offsite being held now?"),
         (["My husband Walt and I live in Dayton, Ohio.",
           "Well, we did it, we sold the house! We're officially living in Sarasota, Florida now."],
          "Where did I say we live now?")],
    )  # fmt: skip
    assert "Mill House Barn" in offsite and "Granary" not in offsite
    assert "Sarasota" in home  # not "Florida" alone, read as the clause that says "now"


def test_who_someone_is_told_inside_a_request_is_kept(real_store, monkeypatch) -> None:
    # from memory_fresh58-64 (written by someone who had not read the code): the fact is said
    # only inside the request for help
    secretary, teacher, friend = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Can you help me write a polite email to Gwen Hallett, the committee secretary, asking if I'm "
           "allowed to put up a small shed?"], "who's the allotment secretary"),
         (["can you help me write a quick email to my pottery teacher, Marguerite Okafor? I'm going to miss "
           "class on Tuesday 14 May."], "what's my pottery teacher called again?"),
         # a first name alone tells nothing of whom the user asks about
         (["Can you write a thank-you note to Kavya for feeding the cat?"], "who's picking us up at the airport?")],
    )  # fmt: skip
    assert "Gwen Hallett" in secretary
    assert "Marguerite" in teacher
    assert "Kavya" not in friend


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        # with no question mark, the last sentence that asks, after what the user said first
        ("right, few things i've forgotten. what's my cat called again", "what's my cat called again"),
        ("We moved to Leeds last week. Not sure about the boxes yet", None),
    ],
)
def test_the_question_after_a_remark_is_the_last_sentence_that_asks(message: str, asked: str | None) -> None:
    part = question_part(message)
    assert (part == asked) if asked else not is_question(part)


@pytest.mark.parametrize(
    ("message", "asks"),
    [
        # a value's noun with a clause that says which one is still the bare noun phrase
        ("and the date we fly home", True),
        ("name of the guy who helps me coach", True),
        ("the price they quoted", True),
        ("the hotel we are staying at", False),  # no value's noun
        ("The date we agreed on was fine", False),  # a verb outside the clause: it tells
    ],
)
def test_a_value_noun_with_a_clause_that_says_which_asks(message: str, asks: bool) -> None:
    assert is_question(question_part(message)) == asks


def test_a_role_by_its_initials_or_as_a_closed_compound(real_store, monkeypatch) -> None:
    # from memory_fresh65 (written by someone who had not read the code)
    hod, ta, head = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My head of department, Mrs Folake Adebayo, wants a revision plan for the mocks."], "my hod's name?"),
         (["My TA is Mrs Joy Mensah, she's been at the school twenty years.",
           "Joy retired at half term, and her replacement, Callum Reid, started on Monday."],
          "who's my teaching assistant at the moment"),
         (["Parents' evening is on 19 November. The head, Mr Rhys Pritchard, wants a summary for each family."],
          "what's the headteacher called")],
    )  # fmt: skip
    assert "Adebayo" in hod
    assert "Callum" in ta and "Joy" not in ta
    assert "Pritchard" in head


def test_who_took_over_when_the_tagger_misses_the_new_name(real_store, monkeypatch) -> None:
    # from memory_fresh67-70 (written by someone who had not read the code)
    dentist, school_run, director = _told_days_apart(
        real_store,
        monkeypatch,
        [(["My dentist is Mr Okafor at Riverside Dental and I've got a check-up on 4 November.",
           "Riverside rang. Mr Okafor's off on paternity leave so I'm seeing a Ms Lindqvist instead."],
          "who am i seeing at the dentist"),
         (["My friend Rosalind has kindly offered to do the Wednesday school run.",
           "Update: Rosalind's gone back to full-time work so she can't do Wednesdays any more, but Deepa from "
           "next door has stepped in."],
          "who does the midweek school run now"),
         (["I'm composing the score for a play. The director is Ailsa Brodie.",
           "Ailsa's had to step away for family reasons, so Rory Quinn, who was assisting, is running the room now."],
          "who's directing now")],
    )  # fmt: skip
    assert "Lindqvist" in dentist and "Okafor" not in dentist
    assert "Deepa" in school_run and "Rosalind" not in school_run
    assert "Rory" in director and "Ailsa" not in director


def test_a_later_change_of_another_thing_does_not_move_a_value(real_store, monkeypatch) -> None:
    # "accepted" is said of both, but the chair in Oslo is no move of the conference
    (city,) = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I've had a paper accepted at a conference in Lisbon in July! My stipend is £19,237 a year.",
           "Big change at work: Solberg has accepted a chair in Oslo, so from next month Kwame is my primary "
           "supervisor."],
          "which city's the conference in")],
    )  # fmt: skip
    assert "Lisbon" in city and "Oslo" not in city


def test_a_change_of_someone_or_something_else_keeps_the_value(real_store, monkeypatch) -> None:
    # from memory_fresh66-67 (written by someone who had not read the code)
    landlord, members, due = _told_days_apart(
        real_store,
        monkeypatch,
        [(["I own a salon in Didsbury. Our landlord is a Mr Pemberton and the rent's £1,850 a month.",
           "Ugh, Pemberton's putting the rent up to £1,975 from April. And Gareth's left Salon Direct, a woman "
           "called Nadia Qureshi has taken over our account."],
          "landlord's name?"),
         (["I'm treasurer of our local history group. We've got 38 members and subs are £12 a year.",
           "The group voted at the AGM to put the subs up to £15 from January."],
          "how many members have we got in the history group"),
         # ... but a later change that shares the question's word moves it
         (["My wife and I are expecting our second, due 19 November.",
           "The 20-week scan measured a bit ahead, so they've moved the due date to the 11th."],
          "when's the baby due now")],
    )  # fmt: skip
    assert "Pemberton" in landlord and "Gareth" not in landlord
    assert "38" in members and "£15" not in members
    assert "11 November" in due


def test_a_guessed_name_is_written_as_one() -> None:
    from assistant.graph.grounding import _written_as_name

    # a dog food and a fund the tagger called people
    assert not _written_as_name("Burns kibble") and not _written_as_name("Green Spaces fund")
    # a name typed in lower case, or with its place, is still one
    assert _written_as_name("mr daniel cho") and _written_as_name("Mr Okafor at Riverside Dental")


def test_a_fuller_name_from_an_older_text_keeps_the_newer_one_s_update(real_store, monkeypatch) -> None:
    # from memory_fresh65 (written by someone who had not read the code)
    (supervisor,) = _told_days_apart(
        real_store,
        monkeypatch,
        [(["Can you help me reply to my supervisor, Professor Ingrid Solberg?",
           "Should I cc my co-supervisor, Dr Kwame Asante? He's usually the one who smooths things over.",
           "Big change at work: Solberg has accepted a chair in Oslo, so from next month Kwame is stepping up as "
           "my primary supervisor and she'll stay on as an external adviser."],
          "who's my main supervisor now")],
    )  # fmt: skip
    assert "Kwame" in supervisor and "Solberg" not in supervisor

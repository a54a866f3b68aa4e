"""The answer span is cut from the stored sentence by the spaCy parse's entities and lemmas."""

from __future__ import annotations

from datetime import UTC, datetime

from assistant.graph.answer_span import asked_role, best_sentence, content_words, span, wanted


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


def test_a_name_is_the_one_the_parse_ties_to_the_noun_asked_about() -> None:
    mum = "my mum has type 2 diabetes. her doctor is Dr. Samuel Otieno and her checkup is on 3 june"
    assert span("who is mum's doctor again", mum).text == "Dr. Samuel Otieno"
    # the doctor's name is not the mother's: nothing in the text names her
    assert not span("what's my mum's name?", mum).typed
    assert span("whats my partner's name again", "I moved to Lisbon with my partner Rui.").text == "Rui"
    assert span("whats my cat called", "also my cat Churro keeps sitting on my laptop.").text == "Churro"
    assert span("who's my running buddy", "my running buddy is my coworker Deshawn Mitchell").text == (
        "Deshawn Mitchell"
    )
    assert span("Who is my new manager?", "My new manager is called Rumana Haque.").text == "Rumana Haque"
    assert asked_role("Remind me the name I gave you for my shop") == "shop"
    assert asked_role("What is my name?") == ""  # the user's own: a profile attribute


def test_an_amount_is_the_one_nearest_the_word_asked_about() -> None:
    said = "her party is on 22 feb, planning for 15 kids, budget around 12000 rs"
    assert span("how much budget for the party", said).text.startswith("12000")
    assert span("how many kids are coming?", said).text == "15 kids"
    # a length of time before a time of day or week, however near the asked word
    assert span("How long does my cycle to work take?", "I cycle to work every day, it takes 20 minutes.").text == (
        "20 minutes"
    )
    # the day of a date is no amount
    assert not span("how much budget for the party", "party shifted to 1 march, exams moved").typed


def test_how_much_asks_for_an_amount_written_any_way_not_a_count() -> None:
    venue = "We booked the soft play place for 2pm on the Saturday, a party room for up to 20 kids."
    # neither the hour nor the number of children is what the party may cost
    assert not span("How much can I spend on the party overall?", venue).typed
    assert span("how much money am i saving", "saved 80,000 pesos so far").text == "80,000 pesos"
    assert span("How much is the ceiling?", "Budget R350 000 absolute max.").text == "R350 000"
    assert span("how much is the budget", "The budget is £250 and I'm lost.").text == "£250"
    assert span("how much is the budget now", "Now 25 million yen total.").text == "25 million yen"


def test_a_date_the_tagger_misses_is_still_read_as_written() -> None:
    # "May" read as the verb; "28 weeks" (a DATE to the tagger) is how far along, not when
    said = "Also my wife Hannah is 28 weeks pregnant, due date is 9 May, so the timing is interesting."
    assert span("when's the baby due?", said, said=1.79e9).text == "9 May"
    assert span("when's the race?", "the race is oct 12 i think", said=1.79e9).text == "oct 12"


def test_a_question_naming_a_kind_of_place_asks_for_a_place() -> None:
    assert wanted("which part of berlin am i living in") == "place"
    assert wanted("Which suburb am I living in now?") == "place"
    assert wanted("which day do I play bowls") == "date"
    assert span("which part of berlin am i living in", "was in prenzlauer berg, now in Neukölln").text == (
        "Neukölln"
    )


def test_a_weekday_said_of_a_habit_is_answered_as_written() -> None:
    bowls = "I play lawn bowls at the club every Tuesday morning, which I enjoy very much."
    # worked out, it would be one Tuesday ("1 December 2026")
    assert span("And on which day do I play bowls?", bowls, said=1.7965e9).text == "every Tuesday"
    assert span("When do I swim?", "I swim on Fridays.", said=1.7965e9).text == "on Fridays"


def test_a_name_is_a_proper_noun_and_never_the_role_asked_about() -> None:
    reno = "kitchen reno time. 35k budget, AUD. builder is Dave Pryce, quoted 8 weeks"
    # the tagger calls "kitchen reno time" a PERSON; a name ends in a proper noun
    assert span("who's doing my kitchen now", reno).text == "Dave Pryce"
    # "landlord" itself is tagged a proper noun here
    assert span("who is my landlord again", "landlord is herr kessler, very slow to answer.").text == (
        "herr kessler"
    )


def test_a_name_the_tagger_misses_is_known_by_what_the_sentence_does_with_it() -> None:
    # the small tagger reads some first names as countries or companies
    assert span("who's my head baker now?", "I've taken on Lourdes instead, she ran a bakery in Cádiz.").text == (
        "Lourdes"
    )
    assert span("who did I make team captain?", "so I've handed the armband to Jordan. He earned it.").text == "Jordan"
    assert span("who's my supervisor now", "Update: Ines's replacement is Radek, he came from the audit team.").text == (
        "Radek"
    )
    # a town the tagger calls a person, said where a place goes, is nobody
    assert not span("who is looking after the dog?", "I'm flying out of Kraków on 2 June.").typed


def test_who_says_a_thing_answers_who_said_it() -> None:
    said = "One thing sorted: my neighbour Pani Halina said she'd come in and feed Kluska twice a day."
    assert span("remind me who said they'd look after Kluska", said).text == "Pani Halina"


def test_a_person_named_first_and_asked_for_by_his_or_her_name() -> None:
    assert asked_role("their account lead, whats his name") == "lead"
    assert asked_role("the cousin we're staying with, what's her name?") == "cousin"


def test_a_word_for_anyone_is_no_role_and_reporting_to_someone_names_the_boss() -> None:
    assert asked_role("who's our flour guy now") == ""
    assert asked_role("who's the person who handles my expenses again") == ""
    assert asked_role("who's my contact at the bakery?") == "contact"  # a real role


def test_a_name_that_starts_like_a_month_is_a_name() -> None:
    # "Marcus" begins like "March", "Junior" like "June"
    assert span("who's the mechanic now", "Marcus took over his bench full time.").text == "Marcus"


def test_a_bare_day_is_read_in_the_month_of_the_date_it_replaces() -> None:
    from assistant.graph.answer_span import day_after

    moved = "the inspector's office rang, they had a clash on the 9th so they'll come Tuesday the 17th instead"
    assert day_after(moved, "Monday 9 June") == "17 June"
    assert day_after("we moved it to the 3rd", "28 June") == "3 July"  # a day before: the month after
    assert day_after("see you on the 5th of May", "9 June") == ""  # a written date is read as written
    # the nearest such date, in the way the text says it moved
    assert day_after("they've brought Rafferty's appointment forward to the 2nd", "9 October") == "2 October"
    assert day_after("pushed it back a fortnight, so it's the 28th now", "14 June") == "28 June"


def test_a_date_moved_by_a_span_of_time_is_the_old_date_moved_by_it() -> None:
    from assistant.graph.answer_span import shifted_date

    assert shifted_date("they're short of beds so they've pushed the op back a fortnight.", "22 October") == "5 November"
    assert shifted_date("the nurse is off sick so they've moved Giulia's jabs a week later, same time", "9 January") == (
        "16 January"
    )
    assert shifted_date("the roof's leaking so they've put the whole show back a week", "Saturday 23 August") == (
        "Saturday 30 August"  # whole weeks keep the weekday as told
    )
    assert shifted_date("they brought it forward two days", "Friday 9 May") == "7 May"
    # a span that moves nothing, or says no way: no new date
    assert shifted_date("I'll be off work for a week after the op", "22 October") == ""
    assert shifted_date("we moved house two weeks ago", "22 October") == ""
    assert shifted_date("they've moved it a week", "22 October") == ""


def test_the_leg_of_a_trip_asked_for_is_the_date_given() -> None:
    told = "I fly out on TP1347 from Dublin on 26 August and come back on the 30th."
    assert span("what day do i fly home from lisbon", told, 1.8e9).text == "30 August"
    assert span("when do I fly out", told, 1.8e9).text == "26 August"
    both = "flying out of Edinburgh on 2 April with KLM through Amsterdam and back on 23 April."
    assert span("and what day are we back", both, 1.8e9).text == "23 April"
    assert span("when are we leaving", both, 1.8e9).text == "2 April"


def test_a_unit_written_onto_a_number_stays_with_it() -> None:
    told = "he's put the metformin up to 1000mg twice a day."
    assert "1000mg" in span("metformin dose again?", told).text


def test_a_name_with_a_lower_case_particle_is_read_whole() -> None:
    told = "We're staying at a guesthouse called Casa do Largo in Alfama."
    assert span("remind me the name of the guesthouse", told).text == "Casa do Largo"
    assert span("who's my supervisor", "My daily supervisor, Dr Floor van Dijk, wants a draft by 30 May.").text.endswith(
        "Floor van Dijk"
    )


def test_a_weekday_with_its_day_is_read_as_said_not_dated_by_the_weekday() -> None:
    moved = "they've had a fault with the pool heating so it's been shifted to the Sunday, the 15th, same time."
    assert span("poppy's gala, which day is it now", moved, 1.8e9).text == "Sunday the 15th"


def test_a_supplier_something_comes_from_is_a_name_and_is_s_is_a_verb() -> None:
    assert span("who's my flour supplier again", "flour comes from Moagem Lusitana, about 1150 euros a month.").text == (
        "Moagem Lusitana"
    )
    assert span("who's my sous chef now?", "Keiko's stepping into his shoes from Monday").text == "Keiko"


def test_how_old_is_answered_by_an_age_not_by_how_long() -> None:
    said = "My head pizzaiolo is Gianluca, he's been with me six years."
    assert not span("How old is Gianluca?", said).typed
    assert span("how old is Mia", "Mia, who is 4, loves dinosaurs").text == "4"
    assert span("how old is my son?", "my son Tomas turns 7 in May").text == "7"


def test_a_name_under_a_verbless_root_is_read_without_hanging() -> None:
    # found on a blind chat: the walk up to the verb never ended at a root that is no verb
    assert span("who sent the good news?", "Great news from Maria!").sentence == "Great news from Maria!"


def test_a_word_for_anyone_keeps_what_it_is_said_of() -> None:
    from assistant.graph.answer_span import anyone_by_what

    assert anyone_by_what("what's the sound guy's name at that venue?") == "sound"
    assert anyone_by_what("who's our flour guy now") == "flour"
    assert anyone_by_what("who is the new guy") == ""  # "new" says which one, not what he does


def test_a_weekday_with_its_day_is_the_nearer_such_day_from_when_it_was_said() -> None:
    from assistant.graph.answer_span import date_in

    said = datetime(2026, 12, 7, 10, tzinfo=UTC).timestamp()  # a Monday
    assert date_in("the stall is now Saturday the 19th instead", said) == "19 December 2026"
    assert date_in("we met on sat 21st", said) == "21 November 2026"  # no Saturday 21st in December


def test_where_a_named_kind_of_place_is_asks_for_the_town_first() -> None:
    # "which school" asks for the school's name; "where's the summer school" asks where it is
    assert span("where's the summer school now", "we're doing the one in Ljubljana instead").text == "Ljubljana"
    said = "Ada starts at Hillcrest Primary School in Leeds next week."
    assert span("which school is Ada going to", said).text == "Hillcrest Primary School"


def test_a_name_is_tied_to_the_role_it_comes_in_as() -> None:
    said = "Her friend Niamh O'Connor is coming in as assistant manager instead."
    assert span("who's the assistant manager?", said).text == "Niamh O'Connor"


def test_a_chat_full_stop_before_a_lower_case_word_ends_a_sentence() -> None:
    from assistant.graph.answer_span import sentences

    told = "hen do is in york on 9 august, i booked a pottery class for 6pm. ideas for games?"
    assert sentences(told) == [
        "hen do is in york on 9 august, i booked a pottery class for 6pm.",
        "ideas for games?",
    ]
    assert sentences("Dr. khan rang. Mrs. jones too") == ["Dr. khan rang.", "Mrs. jones too"]


def test_a_clock_time_in_two_tokens_is_a_time() -> None:
    said = "The organisers reshuffled the schedule, I'm now on at 2:15pm same day."
    assert span("what time's my slot", said).text == "2:15pm"
    assert span("what time is the call", "the call moved to 4 pm, it costs £9.20").text == "4 pm"


def test_a_day_and_may_typed_in_lower_case_before_at_is_a_date() -> None:
    from assistant.graph.answer_span import date_in

    assert date_in("surgery texted, the jabs moved - now 14 may at 10.20", 0.0, written_only=True) == "14 may"
    assert date_in("I may go at noon", 0.0, written_only=True) == ""


def test_a_role_of_two_nouns_asks_for_the_last_and_a_name_the_tagger_calls_a_noun_answers() -> None:
    # seen in a real chat: "Who is my head baker?" was answered "Baker"
    assert asked_role("Who is my head baker?") == "baker"
    assert asked_role("who's my line manager now") == "manager"
    told = "Tomasz is my head baker, he'll do the bread demo. The open day is Saturday 12 July."
    assert span("Who is my head baker?", told).text == "Tomasz"


def test_a_day_said_alone_keeps_its_words_and_is_never_put_in_the_month_it_was_said() -> None:
    from assistant.graph.answer_span import date_in

    said = datetime(2026, 12, 7, tzinfo=UTC).timestamp()  # the month of the chat, not the game's
    moved = "they've pushed the game back a week, it's the 21st now. Same time though."
    assert date_in(moved, said) == "the 21st"
    assert date_in("The gas man can't do the 19th after all, he's coming on the 23rd.", said) == "the 23rd"
    assert date_in("so we're not leaving till the 18th now", said) == "the 18th"


def test_a_clock_time_beats_a_part_of_the_day() -> None:
    told = "Mrs Hart's family have asked for her evening visit to be pushed back to 18:00."
    assert span("what time is Mrs Hart's visit now", told).text == "18:00"


def test_the_name_of_a_thing_is_the_name_given_to_it_not_a_persons() -> None:
    villa = "We're taking the kids to Crete, renting a villa near Chania called Villa Ampelos from 2 to 16 August."
    assert span("name of the villa?", villa).text == "Villa Ampelos"
    ep = "I just started on an EP for Saoirse Doyle, it's called Low Tide Letters."
    assert span("remind me what the EP is called", ep).text == "Low Tide Letters"
    hotel = "Dublin hotel had a problem, so we go to Cork instead. Hotel is now the Imperial Hotel."
    assert span("remind me hotel name", hotel).text == "Imperial Hotel"
    firm = "I'm an accountant at a mid-size firm called Harrow & Pike in Toronto."
    assert span("what's the name of the firm I'm at right now", firm).text == "Harrow & Pike"
    # a noun for someone by what they do is read as a person's, whatever the lists hold
    leader = "My team leader is Kang Min-ho, I must ask him for a day off."
    assert span("Who is my team leader, I forgot the spelling", leader).text == "Kang Min-ho"
    # a name that only holds its word is another thing's
    book = "I run Tidewrack Books in Oban. Ailsa Munro is launching her novel with us."
    assert span("what's ailsa's book called", book).text != "Tidewrack Books"


def test_which_night_asks_for_a_day_and_a_weekdays_evenings_are_a_habit() -> None:
    assert wanted("which night is choir") == "date" and wanted("what evening is the class") == "date"
    assert wanted("which city is it in") == "place"
    said = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    told = "I've just joined the Riverside Singers as a tenor. We rehearse Tuesday evenings at 7:30."
    assert span("which night is choir", told, said).text == "Tuesday evenings"


def test_a_day_said_alone_with_no_date_to_follow_is_the_nearest_such_day() -> None:
    from assistant.graph.answer_span import nearest_day

    said = datetime(2023, 8, 16, tzinfo=UTC).timestamp()
    assert nearest_day("the 15th", said) == "15 August 2023"  # "met the team on the 15th"
    assert nearest_day("the 2nd", datetime(2023, 8, 30, tzinfo=UTC).timestamp()) == "2 September 2023"
    assert nearest_day("the 31st", datetime(2023, 9, 20, tzinfo=UTC).timestamp()) == "31 August 2023"


def test_an_hour_never_answers_how_much() -> None:
    # from memory_fresh48: "how much is the venue paying us?" got "9:30pm"
    gig = "Two sets at the Blue Lantern, first at 8pm, second at 9:30pm."
    assert not span("how much is the blue lantern paying us for that gig?", gig).typed
    assert span("how much was the repair?", "Fixed at 9:30 this morning, $185 in the end.").text == "$185"


def test_a_place_said_by_what_it_is_in_lower_case() -> None:
    # from memory_fresh33: "party's now at the village hall in bramhall"
    moved = "change of plan, soft play was fully booked so party's now at the village hall in bramhall"
    assert span("where's maisie's party being held", moved).text == "the village hall in bramhall"
    assert not span("where do we meet?", "we meet at the end of the road").typed


def test_what_happens_every_week_is_answered_by_a_weekday_not_a_date() -> None:
    # from memory_fresh38 and memory_fresh41
    rosa = "Rosa's picking up Sundays too, so she's on weekends now. And Dev moved up to Seattle."
    assert span("which days does Rosa work now?", rosa).text == "on weekends"
    assert not span("what night do i teach the throwing class", "Mugs due 20 November.").typed
    classes = "Wheel-throwing classes are Tuesday evenings at 6:30, eight students max."
    assert span("what night do i teach the throwing class", classes).text == "Tuesday evenings"
    assert span("what day is the party?", "The party is on 12 April.").text == "12 April"


def test_a_price_asked_by_what_is_charged_is_an_amount_of_money() -> None:
    # from memory_fresh53-58 (written by someone who had not read the code)
    assert wanted("what's the plumber charging now?") == "number"
    assert wanted("nightly rate?") == "number"
    assert wanted("how much per night was the place in alfama") == "number"
    # a number asked by its name is not a price ("the bank account number for paying the fee")
    assert wanted("whats the club bank account number for paying the fee") != "number"
    assert span("what hourly rate did I say I charge for labour?", "I charge €45 an hour for labour, and a basic "
                "service is a flat €65.").text.startswith("€45")  # fmt: skip
    assert span("what did the mx-5 cost me?", "Just bought a used Mazda MX-5 from a dealer for £8,750!").text == "£8,750"


def test_how_many_counts_and_how_heavy_weighs() -> None:
    assert span("how many sessions will the insurance pay for?", "Each session is £48 and the insurance covers "
                "6 sessions.").text.startswith("6")  # fmt: skip
    said = "I'm also shipping some things with DHL, two boxes, 42 kg in total."
    assert span("how heavy were my boxes all together?", said).text == "42 kg"


def test_a_name_said_before_the_kind_of_place_and_a_person_at_the_place_of_a_role() -> None:
    said = "Next appointment is Friday 7 March at 8:15am at the Elmfield clinic."
    assert span("name of the clinic?", said).text.startswith("Elmfield")
    said = "Our dog Biscuit is due his booster, Dr Haugen at the vets has him booked for Monday 2 June."
    assert span("who's biscuit's vet?", said).text == "Dr Haugen"
    assert span("who's the roofer?", "Our roofer Dariusz quoted £1,340 to redo the flashing.").text == "Dariusz"


def test_a_firm_something_is_got_from_answers_who() -> None:
    said = "And Harlow discontinued the blend I use, so I'm switching over to Greenleaf Soy Co."
    assert "Greenleaf" in span("who am i getting wax from these days?", said.split(", so ")[1]).text


def test_a_code_asked_for_is_read_by_its_shape() -> None:
    # from memory_fresh59-64 (written by someone who had not read the code)
    booked = "Found a hotel: Hotel Alegria, up near Príncipe Real. Booking ref K7QX2M, €142 a night for three nights."
    assert span("hotel booking code?", booked).text == "K7QX2M"
    assert span("code for the key box", "the key is in a lockbox, code 3391.").text == "3391"  # a "date" to the tagger
    transfer = "we've booked the transfer from Geneva with Alpine Glide, reference AG-7731, €68 each return."
    assert span("transfer booking ref?", transfer).text == "AG-7731"
    assert span("flight no.?", "airline rescheduled us ugh, its FI451 now and leaves 13 feb.").text == "FI451"
    # no code said: nothing is read, not the price or the date
    assert not span("booking ref for the hotel?", "The hotel is €142 a night from 13 May.").typed


def test_a_sum_the_tagger_splits_is_read_whole() -> None:
    # the small tagger reads "up to £" and "1,975" as two sums
    assert "£1,975" in span("how much is the rent now", "Pemberton's putting the rent up to £1,975 from April.").text


def test_a_role_and_the_name_after_it_are_linked_however_the_rest_is_parsed() -> None:
    told = "The director is Ailsa Brodie and press night is 15 March."
    assert span("who's the director now", told).text == "Ailsa Brodie"


def test_a_price_asked_by_what_is_paid_is_only_a_sum() -> None:
    from assistant.graph.answer_span import asks_price

    assert asks_price("how much do i pay kofi an hour")
    assert asks_price("what deposit did i ask the table client for")
    assert not asks_price("how much is the ceiling we set for the caravan")


def test_how_much_of_a_thing_is_no_sum_asked() -> None:
    from assistant.graph.answer_span import asks_money

    # memory_fresh76: "how much donepezil is she on" got the care home's $5,900 a month
    assert not asks_money("how much donepezil is she on")
    assert not asks_money("how much flour do I need")
    assert asks_money("how much rent do i pay") and asks_money("how much is the rent now")
    assert asks_money("how much am I trying to raise again")


def test_a_fragment_named_by_its_kind_asks_for_that_kind() -> None:
    # memory_fresh73: "biometrics day?" was read as asking nothing in particular
    moved = "Oh and the IND moved our biometrics to the 22nd, same time."
    assert wanted("biometrics day?") == "date" and span("biometrics day?", moved, 1.8e9).text == "the 22nd"
    # ... a day of a habit is its weekday, and "how many days" is a count
    assert "Wednesday" in span("rehearsal day now?", "The rehearsals are now on Wednesday.", 1.8e9).text
    assert wanted("how many days is the electrical job supposed to take") == "number"
    assert span("how much oak did I order", "We ordered 42 square metres of oak for two fronts.").text == "42 square metres"

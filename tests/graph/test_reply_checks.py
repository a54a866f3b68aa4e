"""Checks of a chat reply: loops (and the guard that stops them), dates, format, name."""

from __future__ import annotations

from assistant.graph.reply_checks import (
    LoopGuard,
    drop_repeated_lines,
    has_bullets,
    impossible_dates,
    is_short,
    keeps_persona,
    other_self_names,
    repeated_lines,
)


def test_a_line_said_twice_or_said_in_an_earlier_reply_is_a_repeat() -> None:
    reply = "Start with the outline.\nStart with the outline.\nThen write."
    assert repeated_lines(reply) == ["Start with the outline."]
    assert repeated_lines("Then draft the intro.", earlier=["Then draft the intro."])
    assert repeated_lines("Ok.\nOk.") == []  # short lines repeat legitimately


def test_a_looping_reply_is_cut_before_the_first_repeat() -> None:
    text = "Plan week one. Review the draft carefully. Review the draft carefully. Review"
    assert drop_repeated_lines(text) == "Plan week one. Review the draft carefully."


def test_the_loop_guard_never_shows_a_repeat_and_stops_at_the_second() -> None:
    guard = LoopGuard()
    shown = []
    pieces = ["Write the intro. ", "Write the ", "intro. Then test. ", "Write the intro. More"]
    for piece in pieces:
        safe, stop = guard.push(piece)
        shown.append(safe)
        if stop:
            break
    assert stop
    assert "".join(shown) == guard.reply == "Write the intro. Then test. "


def test_the_loop_guard_leaves_out_what_an_earlier_reply_said() -> None:
    guard = LoopGuard(earlier=["I'm here to help you plan your thesis."])
    pieces = ["I'm here to help you plan your thesis. ", "Start with the outline."]
    shown = "".join(guard.push(p)[0] for p in pieces) + guard.flush()
    assert shown == "Start with the outline."


def test_a_repeat_cut_off_by_the_token_limit_is_left_out() -> None:
    guard = LoopGuard()
    pieces = ["- Draft chapter one by Friday.\n", "- Draft chapter one by"]
    shown = "".join(guard.push(p)[0] for p in pieces) + guard.flush()
    assert shown == "- Draft chapter one by Friday.\n"


def test_dates_that_do_not_exist_are_found() -> None:
    assert impossible_dates("Milestones: Feb 17, Feb 30 and 31 April.") == ["Feb 30", "31 April"]
    assert impossible_dates("Submit by Feb 15; the talk is on 29 February.") == []


def test_format_judges() -> None:
    assert has_bullets("- outline\n- draft\n- submit")
    assert has_bullets("1. outline\n2. draft")
    assert not has_bullets("Outline, then draft, then submit.")
    assert is_short("Submit the draft by Friday.")
    assert not is_short("word " * 80)


def test_the_persona_keeps_its_name() -> None:
    assert keeps_persona("I'm Ada, your assistant.", "Ada")
    assert not keeps_persona("Hello! I'm SmolLM, a helpful assistant.", "Ada")
    assert other_self_names("I'm Ada. Well, I'm Ember too.", "Ada") == ["Ember"]
    assert other_self_names("I'm Happy to help, I'm Ada.", "Ada") == []

"""The goal graph's nodes: small functions of (state, deps) that return a state update.

Only the user's newest message is ever read for actions (goal events, tools, memory
writes). Recalled feed items and stored memory reach the model fenced as quoted data,
and nothing the model writes is parsed for actions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from assistant.config import Settings
from assistant.graph import prompts
from assistant.graph import recall as conversation
from assistant.graph.echo_guard import ScrubbingSink, guard_words, scrub
from assistant.graph.fencing import fence_item, safe_profile_lines
from assistant.graph.goals import open_goals, track
from assistant.graph.grounding import declined, ground, is_grounded_reply, is_question
from assistant.graph.reply_checks import (
    LoopGuard,
    apologises,
    bullet_count,
    drop_repeated_lines,
    near_repeats,
    recital_runs,
    repeated_lines,
    user_names,
    user_self_words,
)
from assistant.graph.state import (
    ChatState,
    GoalState,
    Grounded,
    RecalledItem,
    Route,
    find_goal,
    goal_from_state,
    goal_to_state,
    last_user_text,
    now,
    thread_key,
)
from assistant.graph.tools import ToolContext, recalled_from, requested_tool, run_tool
from assistant.llm.base import ChatModel, Message
from memory.interface import Memory
from memory.types import PROFILE_HEADING, Item, Source
from memory.understand import parse

log = logging.getLogger(__name__)

SAID_AGAIN_WORDS = 8  # a grounded value this short is said again alone; a longer one is a quote
RECALL_MIN_SCORE = 0.3  # cosine similarity below which a stored item is not worth the tokens
PARROT_CHARS = 40  # normalised characters compared with earlier turns before streaming
FOLLOW_UP_AFTER_S = 6 * 3600  # a goal untouched this long gets a follow-up even in its own thread
LISTED_ITEMS = 3  # items added to a list the model announced and never wrote
FOLLOW_UP_AGAIN_S = 24 * 3600  # an unchanged goal followed up once is not followed up again sooner
# The labels of the reply prompt's context block: a reply sentence holding one recites the
# prompt ("The user's goal in play: ..."), and the loop guard leaves it out.
CONTEXT_LABELS = tuple(
    label.split("{")[0].strip()
    for label in (
        prompts.CONTEXT_HEADER,
        prompts.GOAL_SECTION,
        prompts.GOAL_SECTION.split("\n")[1],
        prompts.GOAL_SECTION.split("\n")[2],
        prompts.OPEN_GOALS_SECTION,
        prompts.SUMMARY_SECTION,
        PROFILE_HEADING,
        # the instructions and context speak of "the user"; a reply speaks to them (and
        # "The user's answer is:" says nothing)
        "The user",
    )
)
TAIL_TOKENS = 24  # the last tokens of a reply's budget: sentences show only once finished
SHORT_REPLY_TOKENS = 60  # "short please": the budget itself keeps the reply short
ASKS_IDENTITY = re.compile(
    r"\b(?:what(?:'s| is) your name|your name again|who are you|who am i talking to|"
    r"tell me your name|what should i call you|what are you called)\b",
    re.IGNORECASE,
)
SHORT_REQUEST = re.compile(
    r"\b(?:short|brief|briefly|concise|one sentence|in a sentence|quick answer|tl;?dr)\b",
    re.IGNORECASE,
)
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
# "three ways", "5 tips", "four short ideas": a request for that many list items
ITEMS_REQUEST = re.compile(
    r"\b([2-7]|two|three|four|five|six|seven)\s+(?:[a-z-]+\s+){0,2}?(?:ways|tips|ideas|things|"
    r"steps|items|points|bullets|bullet points|reasons|options|examples|suggestions|questions)\b",
    re.IGNORECASE,
)
BULLETS_REQUEST = re.compile(
    r"\b(?:bullet|bullets|bullet points|as a list|list the)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Deps:
    """What the nodes need from outside the state: the model, the store, the settings."""

    llm: ChatModel
    store: Memory  # profile, goals, items (memory.store.MemoryStore or a test fake)
    settings: Settings


# Where reply text goes while it is generated. A context variable rather than LangGraph's
# "custom" stream mode: that mode runs nodes on a worker thread, where Ctrl-C cannot stop
# generation; without it a turn's single task runs inline on the caller's thread.
TOKEN_SINK: ContextVar[Callable[[str], None] | None] = ContextVar("token_sink", default=None)


def _emit(text: str) -> None:
    """Send reply text to whoever streams this turn (nobody, for a plain invoke)."""
    sink = TOKEN_SINK.get()
    if sink is not None:
        sink(text)


# --- recall -------------------------------------------------------------------------


def recall(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Load this turn's context: the user's open goals, profile facts, relevant feed items."""
    user_id = state["user_id"]
    text = last_user_text(state.get("messages", []))
    stored = [goal_to_state(g) for g in deps.store.goals.open_goals(user_id)]
    # The store is the source of truth: another thread may have finished a goal.
    goals = sorted(stored, key=lambda g: g["created"])
    active = state.get("active_goal", "")
    if find_goal(goals, active) is None:
        active = ""
    profile_raw = deps.store.profile.profile_context(user_id, budget_tokens=200) or ""
    profile = "\n".join(safe_profile_lines(profile_raw.splitlines()))
    recalled: list[RecalledItem] = []
    k = deps.settings.chat.recall_items
    if k and text and deps.store.items.count(user_id):
        hits = deps.store.items.search(user_id, text, k=k)
        recalled = recalled_from(
            [(item, score) for item, score in hits if score >= RECALL_MIN_SCORE]
        )
    memories = conversation.recall_turns(
        deps.store, user_id, text, state.get("thread_id", ""), state.get("turn", 0) + 1,
        deps.settings.chat.keep_recent_turns, now(),
    )  # fmt: skip
    grounded = None
    if deps.settings.chat.grounded and text and not ASKS_IDENTITY.search(text):
        said = [m["content"] for m in state.get("messages", []) if m["role"] == "user"]
        before = said[-2] if len(said) > 1 else ""
        grounded = ground(deps.store, user_id, text, goals, now(), tuple(_last_replies(state)), before)
        if grounded is not None and grounded["reply"] in _last_replies(state):
            # the same guess or decline twice reads as a loop, and helps no more
            if grounded["source"] in ("closest", "likely"):
                grounded = declined(text)
            if grounded["source"] == "none" and grounded["reply"] in _last_replies(state):
                grounded = {**grounded, "reply": prompts.GROUNDED_NOTHING_AGAIN}
        if grounded is not None and repeated_lines(grounded["reply"], _last_replies(state)):
            # the same value for another question, or the same message quoted again: said
            # as such, not as a line of the answer before (which reads as a loop)
            grounded = {**grounded, "reply": _said_again(grounded)}
    return {
        "grounded": grounded,
        "goals": goals,
        "active_goal": active,
        "profile": profile,
        "recalled": recalled,
        "memories": memories,
        "turn": state.get("turn", 0) + 1,
        "tool": None,
        "goal_event": "none",
        "goal_said": [],
        "reply": "",
    }


# --- track_goals --------------------------------------------------------------------


def track_goals(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Read the user's message for a tool request or a goal event and update the goal record."""
    text = last_user_text(state.get("messages", []))
    tool = requested_tool(text)
    if tool is not None:
        return {"tool": tool, "goal_event": "none"}
    if state.get("grounded"):
        # a question about what memory holds sets no goal: "what is the name of my accountant,
        # i need to send him the invoices" asks a name; it is not a new thing to work on
        return {"goal_event": "none"}
    goals = list(state.get("goals", []))
    active = state.get("active_goal", "")
    update, goals, touched = track(
        text,
        goals,
        active,
        llm=deps.llm if deps.settings.chat.goal_model else None,
        retries=deps.settings.chat.goal_retries,
        thread=state.get("thread_id", ""),
    )
    if touched is None:
        return {"goals": goals, "goal_event": "none"}
    deps.store.goals.save(goal_from_state(touched, state["user_id"]))
    if touched["status"] in ("active", "waiting"):
        active = touched["id"]
    elif active == touched["id"]:
        active = ""
    log.info("goal %s: %s (%s)", update.event, touched["statement"], touched["id"])
    return {"goals": goals, "active_goal": active, "goal_event": update.event, "goal_said": update.known}


# --- decide (router) ----------------------------------------------------------------


def decide(state: ChatState) -> Route:
    """Tool if the user asked for one; the stored answer if they asked what memory holds; one
    question if the goal lacks something; else answer."""
    if state.get("tool"):
        return "use_tool"
    if state.get("grounded"):
        return "recite"  # the user asked for what memory holds: the stored value answers
    goal = find_goal(state.get("goals", []), state.get("active_goal", ""))
    if goal and goal["missing"] and state.get("goal_event") in ("new", "progress"):
        text = last_user_text(state.get("messages", []))
        if state.get("goal_event") == "progress" and asks_for_an_answer(text):
            # "can you give me ideas for games?" told the goal something on the way: the
            # user asked for an answer, and a question back would leave it unanswered
            return "respond"
        if _asked_lately(state, goal["missing"][0]):
            return "respond"  # asked already and not answered: asking again is nagging
        return "ask"
    return "respond"


def asks_for_an_answer(text: str) -> bool:
    """True when a message asks something or tells the assistant to do something ("give me
    three ideas", "please draft the invite"): a question, with its mark or without ("which
    firm is feeding everyone"), or a sentence led by a verb with no subject, as the parse
    reads it."""
    if text.rstrip().endswith("?") or is_question(text):
        return True
    return any(
        s.root.tag_ == "VB" and not any(c.dep_ in ("nsubj", "nsubjpass") for c in s.root.children)
        for s in parse(text).doc.sents
    )


def _asked_lately(state: ChatState, need: str) -> bool:
    """True when one of the last two replies asked about `need` (in any words)."""
    replies = [m["content"] for m in state.get("messages", []) if m["role"] == "assistant"][-2:]
    return any("?" in r and _about_need(r, need) for r in replies)


def _about_need(text: str, need: str) -> bool:
    """True when text names the need by the start of one of its words ("date" of "dates")."""
    stems = {w[:4] for w in re.findall(r"[a-z]{3,}", need.lower())}
    return any(stem in text.lower() for stem in stems)


# --- prompt assembly ----------------------------------------------------------------


def _fmt_list(values: list[str]) -> str:
    return "; ".join(values) if values else "nothing yet"


def _fenced(state: ChatState) -> str:
    parts = []
    for item in state.get("recalled", []):
        original = Item(
            id=item["id"],
            owner=state["user_id"],
            source=item["source"],  # type: ignore[arg-type]
            title=item["title"],
            text=item["text"],
            url=item["url"],
        )
        parts.append(fence_item(item, original))
    return "\n".join(parts)


def context_message(state: ChatState, instruction: str, *, with_recalled: bool = True) -> str:
    """The second system turn: profile, goal in play, summary, fenced material, instruction."""
    sections = [prompts.CONTEXT_HEADER]
    if state.get("profile"):
        sections.append(prompts.PROFILE_SECTION.format(profile=state["profile"]))
    goal = find_goal(state.get("goals", []), state.get("active_goal", ""))
    if goal is not None:
        sections.append(
            prompts.GOAL_SECTION.format(
                statement=goal["statement"],
                known=_fmt_list(goal["known"]),
                missing=_fmt_list(goal["missing"]),
            )
        )
    others = [
        g["statement"]
        for g in open_goals(state.get("goals", []))
        if goal is None or g["id"] != goal["id"]
    ]
    if others:
        sections.append(prompts.OPEN_GOALS_SECTION.format(goals="; ".join(others[:3])))
    if state.get("summary"):
        sections.append(prompts.SUMMARY_SECTION.format(summary=state["summary"]))
    fenced = _fenced(state) if with_recalled else ""
    if fenced:
        sections.append(prompts.RECALLED_SECTION.format(fenced=fenced))
    memories = conversation.fenced(state.get("memories", [])) if with_recalled else ""
    if memories:
        sections.append(memories)
    sections.append(instruction)
    return "\n\n".join(sections)


def build_messages(state: ChatState, deps: Deps, instruction: str) -> list[Message]:
    """Persona first (the split-softmax span), then context, then the dialog, within budget."""
    persona: Message = {"role": "system", "content": deps.settings.persona.system_prompt}
    dialog: list[Message] = []
    for m in state.get("messages", []):
        if m["role"] == "assistant" and is_grounded_reply(m["content"]):
            if dialog and dialog[-1]["role"] == "user":
                dialog.pop()  # the question goes with its answer from memory
            continue
        dialog.append(m)
    count: Callable[[str], int] | None = getattr(deps.llm, "count_tokens", None)
    budget = deps.settings.model.context_tokens - deps.settings.chat.reply_tokens
    for with_recalled in (True, False):
        context: Message = {
            "role": "system",
            "content": context_message(state, instruction, with_recalled=with_recalled),
        }
        turns = list(dialog)
        if count is None:
            return [persona, context, *turns]
        fixed = count(persona["content"]) + count(context["content"]) + 16
        # Oldest turns go first; the newest user turn always stays.
        while len(turns) > 1 and fixed + sum(count(m["content"]) + 6 for m in turns) > budget:
            turns.pop(0)
        if fixed + sum(count(m["content"]) + 6 for m in turns) <= budget or not with_recalled:
            return [persona, context, *turns]
    raise AssertionError("unreachable")


def nothing_to_add(earlier: list[str]) -> str:
    """The first plain request for more whose sentences no earlier reply has said."""
    for line in prompts.NOTHING_TO_ADD_LINES:
        if not repeated_lines(line, earlier):
            return line
    return prompts.NOTHING_TO_ADD


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _parrots(head: str, earlier: list[str]) -> bool:
    """True when a reply starts by repeating one of the assistant's earlier turns."""
    start = _norm(head)[:PARROT_CHARS]
    return len(start) >= 12 and any(_norm(e).startswith(start) for e in earlier)


def _sample(
    messages: list[Message],
    deps: Deps,
    conversation: str,
    *,
    emit: bool,
    earlier: list[str],
    max_new_tokens: int | None = None,
    check_parrot: bool = True,
    users: tuple[str, ...] = (),
    selves: frozenset[str] = frozenset(),
) -> str | None:
    """Run the model; None (and stop early) when the reply parrots an earlier turn.

    A sentence already said (in this reply or the last ones) is left out, and a second
    such repeat ends the reply (a small model otherwise loops up to the token limit).
    In the last tokens of the budget sentences show only once finished, so a reply the
    limit cuts off ends at its last whole sentence.
    """
    pieces: list[str] = []
    held = check_parrot and bool(earlier)  # hold back the first characters until checked
    guard = LoopGuard(
        earlier,
        echoes=CONTEXT_LABELS,
        recitals=recital_runs(deps.settings.persona.system_prompt),
        asked=messages[-1]["content"] if messages[-1]["role"] == "user" else "",
        persona=deps.settings.persona.name,
        users=users,
        selves=selves,
    )
    budget = max_new_tokens or deps.settings.chat.reply_tokens
    stream = deps.llm.stream(messages, max_new_tokens=budget, conversation_id=conversation)

    def stop() -> None:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # frees the engine at once

    for piece in stream:
        pieces.append(piece)
        if len(pieces) >= budget - TAIL_TOKENS:
            guard.near_limit()  # a piece is at most one token's text
        if held:
            head = "".join(pieces)
            if len(_norm(head)) < PARROT_CHARS:
                continue
            held = False
            if _parrots(head, earlier):
                stop()
                return None
            piece = head
        safe, looping = guard.push(piece)
        if emit and safe:
            _emit(safe)
        if looping:
            stop()
            break
    if held:
        text = "".join(pieces)
        if _parrots(text, earlier):
            return None
        safe, _ = guard.push(text)
        if emit and safe:
            _emit(safe)
    # A piece per token: a stream that used (nearly) all of its budget was cut off.
    rest = guard.flush(cut=len(pieces) >= budget - 2)
    if emit and rest:
        _emit(rest)
    if not check_parrot and not guard.reply.strip() and pieces:
        # The last try said only what was said before. Its sentences not said in earlier
        # replies are kept; a recital of the prompt or a repeat never reaches the user.
        again = drop_repeated_lines("".join(pieces)).strip()
        kept = [
            s
            for s in re.split(r"(?<=[.!?])\s+|\n+", again)
            if s and not guard.is_echo(s) and not repeated_lines(s, earlier)
        ]
        again = " ".join(kept) or nothing_to_add(earlier)
        if emit:
            _emit(again)
        return again
    return guard.reply


def _said_again(grounded: Grounded) -> str:
    """A grounded answer whose words were just said: its value alone, pointing back."""
    span = grounded["span"]
    if grounded["source"] == "none":
        return grounded["reply"]  # a decline said again is handled above
    if grounded["source"] == "closest" or len(span.split()) > SAID_AGAIN_WORDS:
        return prompts.GROUNDED_IN_QUOTE
    if grounded["source"] == "likely":
        return prompts.GROUNDED_LIKELY_AGAIN.format(span=span)
    return prompts.GROUNDED_AGAIN.format(span=span)


def _last_replies(state: ChatState) -> list[str]:
    """The assistant's last three replies: what a new reply (or list item) never says again."""
    return [m["content"] for m in state.get("messages", []) if m["role"] == "assistant"][-3:]


def _user_names(state: ChatState) -> tuple[str, ...]:
    """The user's names (from their messages and profile): a reply never gives itself one."""
    said = [m["content"] for m in state.get("messages", []) if m["role"] == "user"]
    profile = re.findall(r"\bname is ([A-Z][a-z]+)", state.get("profile", ""))
    return tuple(sorted(set(user_names(said)) | set(profile)))


def _user_selves(state: ChatState) -> frozenset[str]:
    """What the user said they are, do or live in (messages and profile): never the reply's."""
    said = [m["content"] for m in state.get("messages", []) if m["role"] == "user"]
    return user_self_words(said + state.get("profile", "").splitlines())


def _generate(
    state: ChatState,
    deps: Deps,
    instruction: str,
    *,
    prefix: str = "",
    stream: bool = True,
    max_new_tokens: int | None = None,
) -> str:
    """One reply from the model (after an optional fixed prefix), streamed unless told not to.

    Small models like to repeat their previous turn; such a start is dropped and the reply
    is generated again from the context and the user's newest message alone.
    """
    messages = build_messages(state, deps, instruction)
    # Code words from quoted data never leave in a reply, streamed or not (echo_guard.py).
    words = guard_words(state, deps.settings.persona.system_prompt)
    outer = TOKEN_SINK.get()
    scrubbing = ScrubbingSink(outer, words) if words and outer is not None else None
    token = TOKEN_SINK.set(scrubbing) if scrubbing is not None else None
    try:
        if prefix:
            _emit(prefix)
        conversation = thread_key(state["user_id"], state.get("thread_id", ""))
        earlier = _last_replies(state)
        users = _user_names(state)
        selves = _user_selves(state)
        budget = max_new_tokens
        text = _sample(
            messages, deps, conversation, emit=stream, earlier=earlier, max_new_tokens=budget,
            users=users, selves=selves,
        )  # fmt: skip
        if not (text and text.strip()):  # parroted an earlier turn, or said nothing new
            log.debug("reply repeated an earlier turn; answering from the newest message only")
            focused = [messages[0], messages[1], messages[-1]]
            text = (
                _sample(
                    focused,
                    deps,
                    conversation + "#focused",
                    emit=stream,
                    earlier=earlier,  # still never says an earlier sentence again
                    max_new_tokens=budget,
                    check_parrot=False,
                    users=users,
                    selves=selves,
                )
                or nothing_to_add(earlier)  # never an empty reply (the model may stop at once)
            )
    finally:
        if scrubbing is not None and token is not None:
            scrubbing.flush()
            TOKEN_SINK.reset(token)
    # The guard keeps repeats from showing; what is kept (history, Slack's final message)
    # never holds one either, whichever path produced it
    reply = scrub((prefix + drop_repeated_lines(text)).strip(), words)
    if not reply:
        # every line was left out (an echo of the user, then blank lines): the user still
        # gets an answer, and the turn's reply is stored like any other
        reply = nothing_to_add(earlier)
        if stream:
            _emit(reply)
    return reply


def one_question(text: str, need: str) -> str | None:
    """The model's first question if it is about `need`; None when it asked nothing useful."""
    head, mark, _ = text.partition("?")
    if not mark:
        return None
    question = re.split(r"(?<=[.!:\n])\s*", head.strip())[-1].strip() + "?"
    if len(question) < 8 or not _about_need(question, need):
        return None
    return question


def _say(text: str) -> dict[str, Any]:
    return {"reply": text, "messages": [{"role": "assistant", "content": text}]}


# --- ask / use_tool / respond -------------------------------------------------------


def ask(state: ChatState, deps: Deps) -> dict[str, Any]:
    """One clarifying question about the first thing the active goal is missing."""
    goals = [dict(g) for g in state.get("goals", [])]
    goal = find_goal(goals, state.get("active_goal", ""))  # type: ignore[arg-type]
    assert goal is not None and goal["missing"], "decide routes to ask only with a need"
    need = goal["missing"][0]
    # Not streamed: only one question about the need may reach the user, so check it first.
    raw = _generate(state, deps, prompts.ASK_INSTRUCTION.format(need=need), stream=False)
    reply = one_question(raw, need)
    if reply is None:
        # A small model may answer instead of asking: the question is what the user must see.
        verb = "are" if need.endswith("s") and not need.endswith("ss") else "is"
        reply = prompts.ASK_FALLBACK.format(statement=goal["statement"], need=need, verb=verb)
    if reply in _last_replies(state):
        return respond(state, deps)  # asked just now and not answered: asking again is a loop
    _emit(reply)
    goal["status"] = "waiting"
    goal["updated"] = now()
    deps.store.goals.save(goal_from_state(goal, state["user_id"]))  # type: ignore[arg-type]
    return {**_say(reply), "goals": goals, "route": "ask"}


def use_tool(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Run the tool the user asked for; its output is the reply."""
    call = state.get("tool")
    assert call is not None, "decide routes to use_tool only with a request"
    ctx = ToolContext(
        llm=deps.llm,
        store=deps.store,
        settings=deps.settings,
        user_id=state["user_id"],
        arg=call["arg"],
    )
    reply = run_tool(call, ctx)
    _emit(reply)
    return {**_say(reply), "route": "use_tool"}


def recite(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Say what memory holds on the user's question (or that it holds nothing), as stored."""
    grounded = state.get("grounded")
    assert grounded is not None, "decide routes to recite only with a grounded answer"
    # stored text is quoted: code words of quoted external data never leave (echo_guard.py)
    reply = scrub(grounded["reply"], guard_words(state, deps.settings.persona.system_prompt))
    _emit(reply)
    return {**_say(reply), "route": "recite"}


def _follow_up(state: ChatState, deps: Deps) -> tuple[str, list[str], str]:
    """A line about an open goal from another thread (or long untouched): one line per
    thread, about the goal touched last, and not again in the next threads while the goal
    is unchanged (FOLLOW_UP_AGAIN_S). The same line each new chat, when the user let it
    pass, nags; and a second "Last time you were working on" in one chat, about another
    goal, reads as a loop (tried on blind chats: two open goals gave two such lines).

    Returns the line, the ids followed up so far, and the goal now in play ("" = none).
    """
    done = list(state.get("followed_up", []))
    if state.get("goal_event") != "none" or done:
        return "", done, ""
    thread = state.get("thread_id", "")
    latest_first = sorted(open_goals(state.get("goals", [])), key=lambda g: -g["updated"])
    for goal in latest_first:
        if goal["id"] == state.get("active_goal") and now() - goal["updated"] <= FOLLOW_UP_AFTER_S:
            continue  # changed in this chat just now ("we moved it to the 19th"): in hand here
        elsewhere = goal["thread"] != thread or now() - goal["updated"] > FOLLOW_UP_AFTER_S
        key = f"follow-up:{state['user_id']}:{goal['id']}"
        last = deps.store.state.get(key)
        recent = (
            isinstance(last, dict)
            and last.get("goal") == goal["updated"]
            and now() - float(last.get("at", 0)) < FOLLOW_UP_AGAIN_S
        )
        if elsewhere and goal["id"] not in done and not recent:
            done.append(goal["id"])
            deps.store.state.set(key, {"goal": goal["updated"], "at": now()})
            if goal["missing"]:
                line = prompts.FOLLOW_UP_WAITING.format(
                    statement=goal["statement"], need=goal["missing"][0]
                )
            else:
                line = prompts.FOLLOW_UP.format(statement=goal["statement"])
            return line + "\n", done, goal["id"]
    return "", done, ""


def items_asked(text: str) -> int:
    """How many list items the user asked for ("three ways", "5 tips"); 0 when no number."""
    m = ITEMS_REQUEST.search(text)
    if not m:
        return 0
    word = m.group(1).lower()
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def announces_list(reply: str) -> bool:
    """True when a reply ends on a colon with no item after it: it promised a list and
    stopped ("Here are some fun ideas for games at the open day:")."""
    return reply.rstrip().endswith(":") and not bullet_count(reply)


def asked_format(text: str) -> tuple[str, int | None]:
    """The instruction and reply budget for a user asking for a short or a bulleted answer."""
    n = items_asked(text)
    if n:
        return prompts.ITEMS_INSTRUCTION.format(n=n), None
    if BULLETS_REQUEST.search(text):
        return prompts.BULLETS_INSTRUCTION, None
    if SHORT_REQUEST.search(text):
        return prompts.SHORT_INSTRUCTION, SHORT_REPLY_TOKENS
    return prompts.ANSWER_INSTRUCTION, None


def _complete_list(state: ChatState, deps: Deps, reply: str, wanted: int) -> str:
    """Add items, one model call each, until the reply holds the `wanted` items asked for.

    A small model often stops a list early, or writes items that only say the user's words
    back (the loop guard leaves those out): the list is continued, never padded.
    """
    lines = [line for line in reply.splitlines() if line.strip()]
    items = [line for line in lines if bullet_count(line)]
    if not items and not announces_list(reply):  # sentences instead of a list: each sentence is an item
        items = ["- " + s for s in re.split(r"(?<=[.!?])\s+", reply.strip()) if len(s) > 12]
        reply = "\n".join(items)
        if items:
            _emit("\n\n" + reply)  # the list form after the prose already shown
    conversation = thread_key(state["user_id"], state.get("thread_id", "")) + "#more"
    # an added item never says again what this reply or the last ones said, nor apologises
    # ("- I'm sorry, I'm sorry." after a reply that was just that)
    before = _last_replies(state)
    tries = wanted - len(items) + 2
    while len(items) < wanted and tries > 0:
        tries -= 1
        so_far = "\n".join(items) or "(none yet)"
        instruction = prompts.MORE_ITEM_INSTRUCTION.format(items=so_far)
        messages = build_messages(state, deps, instruction)
        text = _sample(
            messages, deps, conversation, emit=False, earlier=before + [reply],
            max_new_tokens=48,
            check_parrot=False, users=_user_names(state), selves=_user_selves(state),
        )  # fmt: skip
        first = next((s.strip() for s in (text or "").splitlines() if len(s.strip()) > 12), "")
        first = re.sub(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+", "", first)
        if (
            not first
            or first.endswith("…")  # cut off by the limit: half an item, often a repeat's start
            or first in prompts.NOTHING_TO_ADD_LINES
            or apologises(first)
            or repeated_lines(first, before + [reply])
            or near_repeats(first, before + [reply])
        ):
            continue
        numbered = bool(items) and re.match(r"^\s*\d{1,2}[.)]", items[-1]) is not None
        item = f"{len(items) + 1}. {first}" if numbered else f"- {first}"
        items.append(item)
        _emit("\n" + item)
        reply = reply.rstrip() + "\n" + item
    return reply


def _noted(state: ChatState, text: str) -> str:
    """The line that confirms what a plain statement gave the goal in play ("Noted for 'plan
    the open day' - date: 19 July."); "" for a question or request, which is answered.
    The user sees what was kept, so a misreading can be put right at once."""
    said = state.get("goal_said", [])
    goal = find_goal(state.get("goals", []), state.get("active_goal", ""))
    if state.get("goal_event") != "progress" or not said or goal is None or asks_for_an_answer(text):
        return ""
    facts = "; ".join(said)
    # the goal by its words less the dates in them: "plan the open day on Saturday 12 July"
    # beside "date: 19 July" would show the old date as if it still held
    statement = goal["statement"]
    if any(k.startswith("date") for k in said):
        for date in (d for d in parse(statement).dates() if re.search(r"\d", d)):  # not "summer"
            statement = re.sub(rf"\s*\b(?:on|by|for|in)?\s*{re.escape(date)}", "", statement).strip()
    return prompts.NOTED.format(statement=statement or goal["statement"], facts=facts)


def respond(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Answer the user with the persona, their profile, the goal in play and fenced material."""
    event = state.get("goal_event", "none")
    touched = [g for g in state.get("goals", []) if g["status"] in ("done", "dropped")]
    text = last_user_text(state.get("messages", []))
    budget = None
    if event == "done" and touched:
        instruction = prompts.DONE_INSTRUCTION.format(statement=touched[-1]["statement"])
    elif event == "dropped" and touched:
        instruction = prompts.DROPPED_INSTRUCTION.format(statement=touched[-1]["statement"])
    else:
        instruction, budget = asked_format(text)
    prefix, followed, focus = _follow_up(state, deps)
    noted = _noted(state, text)
    asked_before = any("?" in r for r in _last_replies(state)[-1:])
    if noted and asked_before:
        prefix = noted + "\n"  # the answer to our question: kept, then the goal is worked on
    if noted and not asked_before:
        # a change told in passing: what was kept is the answer; the small model's remark
        # after it was most often noise ("the 19th day is the last day of the 19th day")
        reply = noted
        _emit(reply)
    elif ASKS_IDENTITY.search(text):
        # A 135M model names itself after its training data ("SmolLM", "Ember"): the
        # persona's name is not left to it.
        reply = prefix + prompts.IDENTITY_REPLY.format(name=deps.settings.persona.name)
        _emit(reply)
    else:
        reply = _generate(state, deps, instruction, prefix=prefix, max_new_tokens=budget)
        # "Here are some fun ideas for games:" and nothing after it: the list it promised, of
        # LISTED_ITEMS when the user named no number
        wanted = items_asked(text) or (LISTED_ITEMS if announces_list(reply) else 0)
        if wanted and bullet_count(reply) < wanted:
            # the follow-up line before the answer is no item of the list
            head = prefix.rstrip() if prefix and reply.startswith(prefix.rstrip()) else ""
            body = _complete_list(state, deps, reply[len(head) :].lstrip("\n"), wanted)
            reply = f"{head}\n{body}" if head else body
    if noted and reply.rstrip().endswith(prompts.NOTHING_TO_ADD_LINES):
        reply = noted  # "tell me more" after what was kept asks again for what was just said
    update: dict[str, Any] = {**_say(reply), "followed_up": followed, "route": "respond"}
    if focus:
        update["active_goal"] = focus  # the user's next answer is about the goal we asked after
    return update


# --- remember / fold ----------------------------------------------------------------


def remember(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Store the turn as episodes; update the profile from the user's own words only."""
    text = last_user_text(state.get("messages", []))
    tool = state.get("tool")
    if text and not (tool and tool["name"] == "forget"):  # a request to forget is not kept either
        conversation.store_turn(
            deps.store, state["user_id"], state.get("thread_id", ""), state.get("turn", 0),
            text, state.get("reply", ""), now(),
        )  # fmt: skip
    if state.get("tool"):
        return {}  # remember/forget tools already did exactly what the user asked
    text = last_user_text(state.get("messages", []))
    if text and state.get("route") != "recite":  # a question about memory tells it nothing new
        source = Source(thread=state.get("thread_id", ""), turn=state.get("turn", 0), time=now())
        deps.store.profile.observe(state["user_id"], text, source)
    return {}


def _clip(text: str, limit: int = 140) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def fold(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Fold turns beyond keep_recent_turns into the running summary (the prompt stays first)."""
    messages = list(state.get("messages", []))
    keep = 2 * deps.settings.chat.keep_recent_turns
    if len(messages) <= keep:
        return {}
    older, recent = messages[:-keep], messages[-keep:]
    lines = [line for line in (state.get("summary") or "").splitlines() if line]
    for message in older:
        template = (
            prompts.SUMMARY_USER_LINE
            if message["role"] == "user"
            else prompts.SUMMARY_ASSISTANT_LINE
        )
        lines.append(template.format(text=_clip(message["content"])))
    limit = deps.settings.chat.summary_chars
    while lines and sum(len(line) + 1 for line in lines) > limit:
        lines.pop(0)
    return {"messages": {"replace": recent}, "summary": "\n".join(lines)}


def goals_in_play(state: ChatState) -> list[GoalState]:
    """The open goals of the state (for callers outside the graph)."""
    return open_goals(state.get("goals", []))

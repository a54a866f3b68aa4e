"""The terminal chat loop behind `assistant chat`: streamed replies and slash commands.

Reads lines until EOF (so `make run` and tests can feed stdin), streams each reply as
it is generated, and turns Ctrl-C during a reply into a cancelled reply, not a lost
thread. Ctrl-C at the prompt only reminds how to leave.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.errors import AssistantError
from assistant.graph.session import ChatSession, ReplyCancelled
from assistant.safetext import clean, has_surrogates, shown

if TYPE_CHECKING:
    from assistant.app import App

log = logging.getLogger(__name__)

HELP = """Commands:
  /goals          your goals (all threads)
  /profile        what I remember about you
  /forget TEXT    forget facts matching TEXT
  /new            start a fresh thread
  /thread NAME    switch to (or create) thread NAME
  /help           this list
  /quit           leave (Ctrl-D works too)
Ctrl-C while I answer cancels the reply; the thread is kept."""
NOT_UTF8 = "(that line held bytes that are not UTF-8 text; they were replaced)"


def goals_table(goals: list[Any], title: str = "Goals") -> Table:
    """Goals as a rich table (status, statement, known, missing, updated)."""
    table = Table(title=title)
    for column in ("status", "goal", "known", "missing", "thread", "updated"):
        table.add_column(column)
    for goal in goals:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(goal.updated)) if goal.updated else ""
        table.add_row(
            goal.status,
            goal.statement,
            "; ".join(goal.known),
            "; ".join(goal.missing),
            goal.thread,
            when,
        )
    return table


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Terminal:
    """One chat session bound to a console and an input stream.

    The session is a ChatSession in this process, or a RemoteSession whose turns run
    inside `assistant run` (the same methods, over the local API)."""

    def __init__(self, session: Any, console: Console, stdin: TextIO, out: TextIO) -> None:
        self.session = session
        self.console = console
        self.stdin = stdin
        self.out = out

    def banner(self) -> None:
        s = self.session
        turns = sum(1 for m in s.history() if m["role"] == "user")
        resumed = f", resuming {turns} earlier turn(s)" if turns else ""
        name = s.settings.persona.name
        self.console.print(
            f"[bold]{escape(name)}[/] · thread [cyan]{escape(s.thread_id)}[/] · "
            f"user {escape(s.user_id)}{resumed} · /help"
        )

    def loop(self) -> None:
        """Read, answer, repeat until /quit or EOF."""
        self.banner()
        while True:
            try:
                self.out.write("you> ")
                self.out.flush()
                line = self.stdin.readline()
            except KeyboardInterrupt:
                self.console.print("\n(type /quit or press Ctrl-D to leave)")
                continue
            if not line:  # EOF
                self.out.write("\n")
                return
            if not _isatty(self.stdin):
                # piped: show what was read (escaped: it may hold ESC or undecodable bytes)
                self.out.write(shown(line.rstrip("\n")) + "\n")
            if has_surrogates(line):
                self.console.print(NOT_UTF8, markup=False)
            text = clean(line).strip()
            if not text:
                continue
            if text.startswith("/"):
                if not self.command(text):
                    return
                continue
            self.reply(text)

    def reply(self, text: str) -> None:
        """Stream one reply; Ctrl-C cancels it and keeps the thread."""
        self.out.write(f"{self.session.settings.persona.name.lower()}> ")
        self.out.flush()

        def on_token(piece: str) -> None:
            self.out.write(piece)
            self.out.flush()

        try:
            self.session.send(text, on_token=on_token)
        except ReplyCancelled:
            self.out.write(" [cancelled]")
        except AssistantError as exc:
            self.out.write("\n")
            self.console.print(f"error: {exc}", markup=False)
        except Exception as exc:  # one failed turn must not end the chat or lose the thread
            log.exception("chat turn failed")
            self.out.write("\n")
            self.console.print(
                f"error: this turn failed ({type(exc).__name__}: {shown(str(exc))[:200]}); "
                "the thread is kept, try again or rephrase",
                markup=False,
            )
        self.out.write("\n")
        self.out.flush()

    def command(self, text: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        s = self.session
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.console.print(HELP, markup=False)
        elif name == "/goals":
            goals = s.goals()
            if goals:
                self.console.print(goals_table(goals))
            else:
                self.console.print("No goals yet. Tell me what you are trying to do.")
        elif name == "/profile":
            facts = s.store.profile.facts(s.user_id)
            if not facts:
                self.console.print("I don't know anything about you yet.")
            for fact in facts:
                self.console.print(f"- [{fact.kind}] {shown(fact.text)}", markup=False)
        elif name == "/forget":
            if not arg:
                self.console.print("usage: /forget TEXT")
            else:
                gone = s.store.profile.forget(s.user_id, arg)
                self.console.print(
                    "Forgotten: " + "; ".join(shown(f.text) for f in gone)
                    if gone
                    else f"Nothing matches '{arg}'.",
                    markup=False,
                )
        elif name == "/new":
            s.switch(time.strftime("t-%Y%m%d-%H%M%S"))
            self.banner()
        elif name == "/thread":
            if not arg:
                self.console.print(f"current thread: {s.thread_id}")
            else:
                s.switch(arg)
                self.banner()
        else:
            self.console.print(f"unknown command {name}; /help lists them", markup=False)
        return True


def run_chat(
    app: App,
    *,
    user_id: str,
    thread_id: str,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> None:
    """Open the memory and the checkpointer, then load the model (through `app`), then chat
    until EOF or /quit."""
    if stdin is None:
        stdin = sys.stdin
        reconfigure = getattr(stdin, "reconfigure", None)
        if reconfigure is not None:
            # Undecodable bytes become surrogates the loop reports, instead of a traceback.
            reconfigure(errors="surrogateescape")
    out = out or sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=True)
    err = Console(stderr=True)
    # The store first: a second process on the data directory fails at once, before the
    # model loads (which takes seconds and may convert weights into the folder).
    memory = app.memory
    saver = app.checkpointer
    warming = app.warm_up()  # spaCy and the embedder load beside the chat model
    with err.status("loading the model..."):
        llm = app.llm
        if warming is not None:
            warming.join()  # before the first reply: each part is loaded once
    session = ChatSession(app.settings, llm, memory, saver, user_id=user_id, thread_id=thread_id)
    Terminal(session, console, stdin, out).loop()


def run_remote_chat(
    session: Any, *, stdin: TextIO | None = None, out: TextIO | None = None
) -> None:
    """Chat through the running service (`session` is a local_api RemoteSession)."""
    out = out or sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=True)
    Terminal(session, console, stdin or sys.stdin, out).loop()

"""Wiring of the goal graph (built on demand, never at import: it needs a model and a store).

START -> recall -> track_goals -(decide)-> ask | use_tool | recite | respond -> remember -> fold -> END
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from assistant.config import Settings
from assistant.graph import nodes
from assistant.graph.state import ChatState
from assistant.llm.base import ChatModel
from memory.interface import Memory


def build_graph(
    *, llm: ChatModel, store: Memory, checkpointer: Any | None, settings: Settings
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the chat graph; pass any LangGraph checkpointer (or None for none)."""
    deps = nodes.Deps(llm=llm, store=store, settings=settings)
    builder = StateGraph(ChatState)
    builder.add_node("recall", partial(nodes.recall, deps=deps))
    builder.add_node("track_goals", partial(nodes.track_goals, deps=deps))
    builder.add_node("ask", partial(nodes.ask, deps=deps))
    builder.add_node("use_tool", partial(nodes.use_tool, deps=deps))
    builder.add_node("recite", partial(nodes.recite, deps=deps))
    builder.add_node("respond", partial(nodes.respond, deps=deps))
    builder.add_node("remember", partial(nodes.remember, deps=deps))
    builder.add_node("fold", partial(nodes.fold, deps=deps))

    # Every turn starts by loading the user's goals, profile and relevant items.
    builder.add_edge(START, "recall")
    # Goals are updated from the user's words before anything answers them.
    builder.add_edge("recall", "track_goals")
    # One of four ways to answer: a question, a requested tool, the stored answer, or a reply.
    builder.add_conditional_edges(
        "track_goals",
        nodes.decide,
        {"ask": "ask", "use_tool": "use_tool", "recite": "recite", "respond": "respond"},
    )
    # After any answer the profile learns from the user's own words...
    builder.add_edge("ask", "remember")
    builder.add_edge("use_tool", "remember")
    builder.add_edge("recite", "remember")
    builder.add_edge("respond", "remember")
    # ...and old turns fold into the summary so the system prompt keeps its place.
    builder.add_edge("remember", "fold")
    # The turn ends; the checkpointer has saved every step.
    builder.add_edge("fold", END)
    return builder.compile(checkpointer=checkpointer)


def _drawable() -> CompiledStateGraph[Any, Any, Any, Any]:
    no_store = cast("Memory", None)  # drawing never runs a node, so it never reads memory
    return build_graph(llm=_NoModel(), store=no_store, checkpointer=None, settings=Settings())


def mermaid() -> str:
    """The graph as a Mermaid diagram (built with stand-ins: no model, no store)."""
    return _drawable().get_graph().draw_mermaid()


def edges() -> list[str]:
    """The graph's edges as 'source -> target' lines (conditional ones marked)."""
    drawn = _drawable().get_graph()
    return [
        f"{e.source} -> {e.target}" + (" (decide)" if e.conditional else "") for e in drawn.edges
    ]


class _NoModel:
    """Placeholder model for drawing the graph; never called."""

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def chat_batch(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

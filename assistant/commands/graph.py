"""`assistant graph`: show how the chat graph is wired."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--mermaid", "fmt", flag_value="mermaid", default=True, help="Mermaid diagram (default)."
)
@click.option("--edges", "fmt", flag_value="edges", help="One 'source -> target' line per edge.")
def graph(fmt: str) -> None:
    """Print the goal graph (no model is loaded)."""
    from assistant.graph.graph import edges, mermaid

    click.echo(mermaid() if fmt == "mermaid" else "\n".join(edges()))

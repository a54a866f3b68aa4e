"""Digest rendering: Markdown, self-contained HTML, and Slack Block Kit.

All text here is external data (feed titles, abstracts, summaries written by a model
that read them): it is escaped for each target, and links are kept only when they are
plain http(s) URLs, so nothing in a feed can inject markup, scripts or odd schemes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from assistant.background.digest import Digest, RankedItem

SOURCE_TITLES = {"arxiv": "arXiv papers", "slack": "Slack"}
FEEDBACK_UP = "digest_feedback_up"
FEEDBACK_DOWN = "digest_feedback_down"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")



def _blurb(item: Any) -> str:
    """The summary, else the text's first 300 characters, unless that text gives orders."""
    from assistant.graph.echo_guard import code_words, scrub
    from assistant.graph.fencing import WITHHELD, looks_like_instructions

    if item.summary:
        return str(item.summary)
    # an unsummarised item that addresses an assistant is not repeated in the digest,
    # and code words of orders the filter missed are taken out (echo_guard.py)
    if looks_like_instructions(item.text):
        return WITHHELD
    return scrub(one_line(item.text, 300), code_words([item.text], []))

def safe_url(url: str) -> str:
    """The URL when it is a plain http(s) link, else ""."""
    try:
        parsed = urlparse(url.strip())
    except ValueError:
        return ""
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return ""
    if any(ch in url for ch in "<>\"' \n\r\t|"):
        return ""
    return url.strip()


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace and cut at `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def provenance(item: Any) -> str:
    """Where the summary shown came from: the model, or the item's own text."""
    if not item.summary:
        return "summary: excerpt"
    return f"summary: {item.meta.get('summary_from', 'generated')}"


def grouped(items: Sequence[RankedItem]) -> list[tuple[str, list[RankedItem]]]:
    """Items grouped by source, groups in order of their best item."""
    groups: dict[str, list[RankedItem]] = {}
    for ranked in items:
        groups.setdefault(ranked.item.source, []).append(ranked)
    return list(groups.items())


def _probe_line(probe: dict[str, Any] | None) -> str:
    if not probe:
        return "no self-probe has run yet"
    if probe.get("verdict"):
        return str(probe["verdict"])  # one plain sentence (assistant.probes.verdict)
    stability = probe.get("stability_last_round")
    score = f"{float(stability):.2f}" if isinstance(stability, int | float) else "n/a"
    state = "ALERT: below threshold" if probe.get("alert") else "ok"
    return f"{probe.get('date', '?')}: stability in the last round {score} ({state})"


# ---- Markdown -----------------------------------------------------------------------


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", one_line(text, 1000))


def to_markdown(digest: Digest) -> str:
    """The digest as Markdown (escaped; ids shown for `assistant digest feedback`)."""
    lines = [f"# Digest for {digest.day.isoformat()}", ""]
    if digest.note:
        lines += [f"> {_md(digest.note)}", ""]
    lines.append("## Your open goals")
    if digest.goals:
        lines += [f"- {_md(goal)}" for goal in digest.goals]
    else:
        lines.append("- none recorded")
    lines += ["", f"**Last night's self-probe:** {_md(_probe_line(digest.probe))}", ""]
    if not digest.items:
        lines += ["Nothing new since the last digest.", ""]
    for source, members in grouped(digest.items):
        lines += [f"## {SOURCE_TITLES.get(source, source)}", ""]
        for ranked in members:
            item = ranked.item
            url = safe_url(item.url)
            title = _md(item.title or "(untitled)")
            head = f"[{title}]({url})" if url else title
            lines.append(f"{ranked.rank}. **{head}**")
            summary = _blurb(item)
            lines.append(f"   {_md(summary)}")
            flags = ", ".join([*ranked.reasons(), provenance(item)])
            lines.append(f"   <sub>id `{item.id}` · score {ranked.score:.2f} · {flags}</sub>")
            lines.append("")
    lines.append(
        "Feedback: `assistant digest feedback ITEM_ID up|down` (or the buttons on the Slack post)."
    )
    return "\n".join(lines).rstrip() + "\n"


# ---- HTML ---------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:46rem;
margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.8rem}.probe{background:#f4f4f6;padding:.5rem .8rem;border-radius:6px}
.alert{background:#fde8e8}ol{padding-left:1.4rem}li{margin-bottom:.9rem}
code{background:#f4f4f6;padding:0 .2rem;border-radius:3px}
"""


def to_html(digest: Digest) -> str:
    """The digest as one self-contained HTML page: inline CSS, no scripts, no external assets."""
    esc = html.escape
    probe_class = "probe alert" if digest.probe and digest.probe.get("alert") else "probe"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Digest {esc(digest.day.isoformat())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Digest for {esc(digest.day.isoformat())}</h1>",
        f'<p class="meta">{esc(digest.note)}</p>' if digest.note else "",
        "<h2>Your open goals</h2><ul>",
    ]
    goals = digest.goals or ["none recorded"]
    parts += [f"<li>{esc(one_line(goal, 300))}</li>" for goal in goals]
    parts.append("</ul>")
    parts.append(
        f'<p class="{probe_class}"><strong>Last night\'s self-probe:</strong> '
        f"{esc(_probe_line(digest.probe))}</p>"
    )
    if not digest.items:
        parts.append("<p>Nothing new since the last digest.</p>")
    for source, members in grouped(digest.items):
        parts.append(f"<h2>{esc(SOURCE_TITLES.get(source, source))}</h2>")
        parts.append(f'<ol start="{members[0].rank}">')
        for ranked in members:
            item = ranked.item
            url = safe_url(item.url)
            title = esc(one_line(item.title or "(untitled)", 300))
            head = f'<a href="{esc(url, quote=True)}" rel="noopener">{title}</a>' if url else title
            summary = esc(_blurb(item))
            summary += f" <em>({esc(provenance(item))})</em>"
            meta = esc(f"score {ranked.score:.2f} · " + ", ".join(ranked.reasons()))
            parts.append(
                f"<li><strong>{head}</strong><br>{summary}<br>"
                f'<span class="meta">id <code>{esc(item.id)}</code> · {meta}</span></li>'
            )
        parts.append("</ol>")
    parts.append(
        '<p class="meta">Feedback: <code>assistant digest feedback ITEM_ID up|down</code>, '
        "or the buttons on the Slack post.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---- Slack Block Kit ------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's three control characters in mrkdwn text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_blocks(digest: Digest) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, Block Kit blocks) for one chat.postMessage; stays under 50 blocks."""
    day = digest.day.isoformat()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Digest for {day}"}},
    ]
    if digest.note:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(digest.note)}]}
        )
    goals = (
        "\n".join(f"• {_slack_escape(one_line(g, 200))}" for g in digest.goals) or "• none recorded"
    )
    blocks.append(
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Your open goals*\n{goals}"}}
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Last night's self-probe: " + _slack_escape(_probe_line(digest.probe)),
                }
            ],
        }
    )
    if not digest.items:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Nothing new since the last digest."},
            }
        )
    for source, members in grouped(digest.items):
        blocks.append({"type": "divider"})
        title = SOURCE_TITLES.get(source, source)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}})
        for ranked in members:
            if len(blocks) > 46:  # Slack's limit is 50 blocks per message
                break
            item = ranked.item
            name = _slack_escape(one_line(item.title or "(untitled)", 150)).replace("|", "/")
            url = safe_url(item.url)
            head = f"<{url}|{name}>" if url else name
            summary = _slack_escape(_blurb(item))
            text = f"*{ranked.rank}. {head}*\n{one_line(summary, 2500)}"
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"digest:{ranked.rank}",
                    "text": {"type": "mrkdwn", "text": text},
                }
            )
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"digest_fb:{ranked.rank}",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": FEEDBACK_UP,
                            "text": {"type": "plain_text", "text": "👍 more like this"},
                            "value": f"up|{digest.user_id}|{item.id}",
                        },
                        {
                            "type": "button",
                            "action_id": FEEDBACK_DOWN,
                            "text": {"type": "plain_text", "text": "👎 less"},
                            "value": f"down|{digest.user_id}|{item.id}",
                        },
                    ],
                }
            )
    if digest.items:
        hint = "Buttons say more/less like an item; a :one: to :keycap_ten: reaction means more like item N."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]})
    fallback = f"Digest for {day}: {len(digest.items)} items"
    return fallback, blocks

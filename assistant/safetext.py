"""Text from outside (typed, pasted, Slack, feeds, files) made safe to process, print and log.

Three directions, three functions:

- `clean` for text coming in: lone surrogates (what undecodable bytes become) are
  replaced, control characters other than tab and newline are dropped, and very long
  text is cut. The tokenizers refuse surrogates outright, and a stray ESC or NUL helps
  no one downstream.
- `shown` for text going out to a terminal: control characters (ESC, BEL, C1) become
  visible escapes, so a feed title cannot move the cursor, ring the bell or retitle the
  window.
- `for_log` for text going into a log line: one line, escaped, capped, so a request
  body cannot forge a log record or flood the file.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
CUT_MARK = " […]"

# C0 controls except tab and newline, DEL, and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Bidirectional overrides reorder what a terminal shows; shown as escapes too.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def has_surrogates(text: str) -> bool:
    """True when `text` holds lone surrogates (undecodable input bytes, or a bad JSON escape)."""
    return _SURROGATE.search(text) is not None


def clean(text: str, limit: int | None = None) -> str:
    """`text` without surrogates or control characters (tab, newline kept), cut to `limit`."""
    if not isinstance(text, str):
        text = str(text)
    if text.isascii():
        if text.isprintable():
            out = text
        else:
            out = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    else:
        out = _SURROGATE.sub(REPLACEMENT, text)
        out = _CONTROL.sub("", out.replace("\r\n", "\n").replace("\r", "\n"))
    if limit is not None and len(out) > limit:
        out = out[:limit] + CUT_MARK
    return out


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """`text` fit for a terminal: control, bidi and surrogate characters as visible escapes."""
    if text.isascii() and text.isprintable():
        return text
    out = _CONTROL.sub(_escape, text)
    out = _BIDI.sub(_escape, out)
    return _SURROGATE.sub(_escape, out)


def for_log(text: str | bytes, limit: int = 200) -> str:
    """`text` as one escaped log-safe line of at most `limit` characters (plus a length note)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    total = len(text)
    head = text[:limit]
    out = shown(head).replace("\n", "\\n").replace("\t", "\\t")
    if total > limit:
        out += f"…(+{total - limit} chars)"
    return out

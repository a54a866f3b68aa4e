"""Hostile feed text: parsed without a crash, stored without control bytes, printed escaped."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import ConnectorError
from connectors.arxiv import parse_feed
from connectors.ingest import stored_text
from memory.types import Item
from tests.hostile import byte_tokenizer, hostile_text

EVIL_TITLE = "Attention \x1b]0;owned\x07\x1b[2J is [bold red]all[/] you need\x9b31m"


def _rss(title: str, text: str) -> bytes:
    def cdata(value: str) -> str:
        return "<![CDATA[" + value.replace("]]>", "") + "]]>"

    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>cs.CL</title>'
        "<item><title>" + cdata(title) + "</title><link>https://arxiv.org/abs/2401.00001v1</link>"
        "<description>" + cdata(text) + "</description><guid>oai:arXiv.org:2401.00001v1</guid>"
        "</item></channel></rss>"
    )
    return body.encode("utf-8", "replace")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(title=hostile_text(), text=hostile_text(), raw=st.binary(max_size=300), use_raw=st.booleans())
def test_any_feed_text_parses_or_is_refused_and_stores_clean(title, text, raw, use_raw) -> None:
    data = raw if use_raw else _rss(title, text)
    try:
        parsed = parse_feed(data, feed="cs.CL", owner="local")
    except ConnectorError:
        return  # a clear refusal is fine
    for item in parsed.items:
        kept = stored_text(item)
        for value in (kept.title, kept.text, kept.author):
            assert "\x1b" not in value and "\x07" not in value
            byte_tokenizer()(value, add_special_tokens=False)  # embeddable, no TypeError


def test_feeds_list_and_profile_export_print_escapes_not_raw_control_bytes(home: Path) -> None:
    from memory.store import open_store

    with open_store(Settings()) as store:
        # stored raw on purpose (as an older release would have): output must escape anyway
        store.items.upsert([Item(id="arxiv:1", owner="local", source="arxiv", title=EVIL_TITLE, text="x")])
        store.profile.remember("local", "I like \x1b[31mred\x07 things", kind="preference")
    runner = CliRunner()
    listed = runner.invoke(cli, ["feeds", "list"], catch_exceptions=False)
    exported = runner.invoke(cli, ["profile", "export"], catch_exceptions=False)
    shown = runner.invoke(cli, ["profile", "show"], catch_exceptions=False)
    for result in (listed, exported, shown):
        assert result.exit_code == 0
        assert "\x1b" not in result.output and "\x07" not in result.output and "\x9b" not in result.output
    assert "\\x1b" in listed.output and "[bold red]" in listed.output  # shown, not interpreted
    assert "\\x1b[31mred\\x07" in exported.output
    as_json = runner.invoke(cli, ["profile", "export", "--json"], catch_exceptions=False)
    assert "\x1b" not in as_json.output and json.loads(as_json.output)["facts"]


def test_pulled_items_are_stored_without_control_bytes() -> None:
    item = Item(id="arxiv:2", owner="local", source="arxiv", title=EVIL_TITLE, text="a\x00b\udcff", author="\x07Eve")
    kept = stored_text(item)
    assert kept.title == "Attention ]0;owned[2J is [bold red]all[/] you need31m"
    assert kept.text == "ab\ufffd" and kept.author == "Eve"

"""Pull from a loopback arXiv feed into the real store, summarise, `assistant digest --no-post`."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.config import load_settings
from tests.connectors import docs  # noqa: E402 - after the skip: needs the connectors' fakes
from tests.connectors.servers import ArxivServer, Route  # noqa: E402
from tests.fakes import ScriptedChatModel

PAPERS = [
    (
        "2611.10001",
        "Curiosity-driven exploration for reinforcement learning agents",
        "We add intrinsic rewards to policy-gradient reinforcement learning and solve sparse-reward mazes.",
    ),
    (
        "2611.10002",
        "Dark matter maps from weak lensing surveys",
        "We reconstruct dark matter density maps from galaxy shapes in a wide-field survey.",
    ),
    (
        "2611.10003",
        "Offline reinforcement learning with conservative value estimates",
        "A conservative Q-learning variant learns robot control policies from logged data.",
    ),
    (
        "2611.10004",
        "Compressing SQL query plans",
        "We compress database query plans with a learned dictionary and speed up planning.",
    ),
]


@pytest.fixture
def arxiv() -> ArxivServer:
    server = ArxivServer()
    now = formatdate(usegmt=True)
    items = [docs.rss_item(i, 1, t, a, categories=("cs.LG",), date=now) for i, t, a in PAPERS]
    server.routes["/rss/cs.LG"] = Route(docs.rss("cs.LG", items))
    server.start()
    yield server
    server.stop()


def test_digest_from_pulled_feed_items(home: Path, arxiv: ArxivServer) -> None:
    Path("config.toml").write_text(
        "[feeds]\n"
        'arxiv_categories = ["cs.LG"]\n'
        f'arxiv_rss_url = "{arxiv.url}/rss/{{category}}"\n'
        "arxiv_min_interval_s = 0.0\n"
        "timeout_s = 2.0\n"
        "[digest]\n"
        "top_n = 3\n"
    )
    settings = load_settings().settings
    from assistant.background.summarise import summarise_pending
    from connectors.ingest import pull
    from memory.store import open_store

    with open_store(settings) as store:
        report = pull(settings, store, source="arxiv")
        assert report.total().new == 4, report
        model = ScriptedChatModel(
            # the item's title and first sentence: it passes the summary checks and covers
            # the item better than any one of its sentences, so it is kept
            lambda msgs: (
                "In short: "
                + msgs[-1]["content"].split("\n")[3]
                + ": "
                + msgs[-1]["content"].split("\n")[5].split(". ")[0].rstrip(".")
                + "."
            )
        )
        assert summarise_pending(settings, store, model, user_id="local").summarised == 4
        store.profile.remember("local", "I work on reinforcement learning", kind="interest")

    result = CliRunner().invoke(cli, ["digest", "--no-post"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 items (of 4 new)" in result.output and "Slack: skipped: --no-post" in result.output
    md_path = Path(result.output.split("-> ")[1].split("\n")[0].strip())
    md = md_path.read_text()
    first_two = md.split("## arXiv papers")[1].split("\n3.")[0]
    assert (
        "Curiosity-driven exploration" in first_two
        and "Offline reinforcement learning" in first_two
    )
    assert "In short:" in md and md_path.with_suffix(".html").is_file()
    assert "summary: generated" in md  # the digest says where a summary came from

    feedback = CliRunner().invoke(
        cli, ["digest", "feedback", "arxiv:2611.10004", "up"], catch_exceptions=False
    )
    assert feedback.exit_code == 0 and "Compressing SQL query plans" in feedback.output
    again = CliRunner().invoke(cli, ["digest", "--no-post"], catch_exceptions=False)
    assert again.exit_code == 0 and again.output.splitlines()[0] == result.output.splitlines()[0]

"""The daily digest: ranking by interest, files, one Slack post per day, feedback."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant.app import App
from assistant.background.digest import (
    build_digest,
    handle_action,
    handle_reaction,
    record_feedback,
)
from assistant.config import Settings
from assistant.errors import AssistantError
from memory.types import Goal, Item
from tests.memfake import Embed, FakeMemory
from tests.slack.fakeapi import FakeSlackAPI

DAY = datetime.now(UTC).date()  # settings use UTC; digests are built "today"
NOON = time.time() - 3600  # items published an hour ago

RL = [
    (
        "Policy optimisation with learned reward models",
        "We train reinforcement learning agents with "
        "proximal policy optimisation against a learned reward model and study reward hacking.",
    ),
    (
        "Offline reinforcement learning from logged robot data",
        "A conservative Q-learning method "
        "learns control policies for robot arms from fixed datasets without online exploration.",
    ),
    (
        "Exploration bonuses for sparse-reward Atari games",
        "We add curiosity-driven intrinsic "
        "rewards to deep Q-networks and improve scores on hard-exploration Atari games.",
    ),
]
OTHER = [
    (
        "Spectra of distant quasars",
        "We measure redshifts of quasars with a new spectrograph and "
        "map intergalactic hydrogen absorption.",
    ),
    (
        "Faster B-tree indexes for SSDs",
        "A write-optimised B-tree layout halves the write "
        "amplification of database indexes on flash storage.",
    ),
    (
        "Protein stability under heat stress",
        "We measure how point mutations change the melting "
        "temperature of enzymes in thermophilic bacteria.",
    ),
]


def _paper(i: int, title: str, text: str, when: float = NOON) -> Item:
    return Item(
        id=f"arxiv:2603.{i:05d}",
        owner="local",
        source="arxiv",
        title=title,
        text=text,
        summary=f"Summary: {text[:60]}",
        url=f"https://arxiv.org/abs/2603.{i:05d}",
        published=when,
    )


def _settings(**digest: Any) -> Settings:
    return Settings(digest={"top_n": 4, **digest})  # type: ignore[arg-type]


@pytest.fixture
def store(embed: Embed) -> FakeMemory:
    s = FakeMemory(embed)
    s.items.upsert(_paper(i, t, x) for i, (t, x) in enumerate(OTHER + RL))
    s.profile.remember(
        "local", "I want to keep up with reinforcement learning research", kind="interest"
    )
    s.goals.save(Goal(id="g1", user_id="local", statement="Finish the RL workshop paper by Friday"))
    return s


def test_papers_on_the_users_interest_rank_first(home: Path, store: FakeMemory) -> None:
    result = build_digest(_settings(), store, day=DAY, user_id="local", post=False)
    titles = [r.item.title for r in result.digest.items]
    assert set(titles[:3]) == {t for t, _ in RL}, titles
    assert len(titles) == 4 and result.considered == 6
    md = result.markdown_path.read_text()
    assert result.markdown_path.name == f"{DAY.isoformat()}.md"
    assert "Finish the RL workshop paper" in md and "no self-probe has run yet" in md
    assert (
        md.index("Policy optimisation") < md.index("Spectra of distant quasars")
        if "Spectra" in md
        else True
    )


def test_a_slack_mention_lifts_an_item(home: Path, store: FakeMemory) -> None:
    mention = Item(
        id="slack:C1:1.0",
        owner="local",
        source="slack",
        title="#lab",
        text="@me can you review the protein assay plan?",
        published=NOON,
        mentions_me=True,
        url="https://x.slack.com/archives/C1/p1",
    )
    store.items.upsert([mention])
    plain = build_digest(_settings(weight_slack=0.0), store, day=DAY, user_id="local", post=False)
    lifted = build_digest(_settings(weight_slack=1.0), store, day=DAY, user_id="local", post=False)
    rank = {r.item.id: r.rank for r in lifted.digest.items}
    assert rank.get("slack:C1:1.0") == 1
    assert "slack:C1:1.0" not in {r.item.id for r in plain.digest.items[:1]}
    assert "## Slack" in lifted.markdown_path.read_text()


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.assets: list[tuple[str, str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if tag == "a" and name == "href":
                self.links.append(value or "")
            elif name in ("src", "href", "srcset", "data", "poster"):
                self.assets.append((tag, name, value or ""))


def test_html_parses_is_self_contained_and_escapes_feed_text(home: Path, store: FakeMemory) -> None:
    store.items.upsert(
        [
            Item(
                id="arxiv:2603.99999",
                owner="local",
                source="arxiv",
                title='<script>alert("x")</script> reinforcement learning <img src=http://evil/x.png>',
                text="reinforcement learning",
                url="javascript:alert(1)",
                published=NOON,
            ),
        ]
    )
    result = build_digest(_settings(top_n=10), store, day=DAY, user_id="local", post=False)
    page = result.html_path.read_text()
    parser = _Assets()
    parser.feed(page)
    parser.close()
    assert parser.tags[0] == "html" and "style" in parser.tags
    assert "script" not in parser.tags and "img" not in parser.tags
    assert parser.assets == [], parser.assets
    assert "url(" not in page and "@import" not in page
    assert parser.links and all(link.startswith("https://arxiv.org/abs/") for link in parser.links)
    assert "&lt;script&gt;" in page


def test_the_digest_is_posted_once_per_day(
    home: Path, store: FakeMemory, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings(
        digest={"slack_target": "C0DIGEST"}, slack={"base_url": fake_slack.base_url}
    )  # type: ignore[arg-type]
    first = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    second = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)  # re-run / restart
    assert first.post_status == "posted" and second.post_status == "already posted"
    assert len(fake_slack.posts) == 1
    post = fake_slack.posts[0]
    assert post["channel"] == "C0DIGEST"
    blocks = (
        post["blocks"]
        if isinstance(post["blocks"], list)
        else __import__("json").loads(post["blocks"])
    )
    assert blocks[0]["type"] == "header" and len(blocks) <= 50
    assert any(b.get("type") == "actions" for b in blocks)
    # the next day posts again, and covers only what arrived since this digest
    store.items.upsert(
        [
            _paper(
                50,
                "Model-based reinforcement learning with world models",
                RL[0][1],
                when=time.time() + 60,
            )
        ]
    )
    nxt = build_digest(settings, store, day=DAY + timedelta(days=1), user_id="local", post=True, client=App(settings).slack)
    assert nxt.post_status == "posted" and len(fake_slack.posts) == 2
    assert [r.item.id for r in nxt.digest.items] == ["arxiv:2603.00050"]


def test_a_crash_between_post_and_record_does_not_post_twice(
    home: Path, store: FakeMemory, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings(
        digest={"slack_target": "C0DIGEST"}, slack={"base_url": fake_slack.base_url}
    )  # type: ignore[arg-type]
    from assistant.background import digest_record

    real = digest_record.set_post_state

    def crash_after_post(user_id: str, day: date, state: str, **cols: str) -> None:
        if state == "posted":
            raise SystemExit("killed right after chat.postMessage")
        real(user_id, day, state, **cols)

    monkeypatch.setattr(digest_record, "set_post_state", crash_after_post)
    with pytest.raises(SystemExit):
        build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    monkeypatch.setattr(digest_record, "set_post_state", real)
    again = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    assert again.post_status.startswith("unknown")
    assert len(fake_slack.posts) == 1


def test_a_slack_error_is_retried_on_the_next_run(
    home: Path, store: FakeMemory, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings(
        digest={"slack_target": "C0DIGEST"}, slack={"base_url": fake_slack.base_url}
    )  # type: ignore[arg-type]
    fake_slack.fail_next("chat.postMessage", "not_in_channel")
    failed = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    assert (
        failed.post_status.startswith("failed: not_in_channel")
        and "invite the bot" in failed.post_status
    )
    ok = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    assert ok.post_status == "posted"
    assert len(fake_slack.posts) == 2  # one refused by Slack, one delivered


def test_no_token_or_target_means_no_post(
    home: Path, store: FakeMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = build_digest(_settings(), store, day=DAY, user_id="local", post=True, client=App(_settings()).slack)
    assert result.post_status.startswith("skipped: SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    result = build_digest(_settings(), store, day=DAY, user_id="local", post=True, client=App(_settings()).slack)
    assert "slack_target" in result.post_status
    assert result.html_path.is_file()


def test_feedback_from_cli_buttons_and_reactions(
    home: Path, store: FakeMemory, fake_slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = Settings(
        digest={"slack_target": "C0DIGEST", "top_n": 4},  # type: ignore[arg-type]
        slack={"base_url": fake_slack.base_url, "me": "U0OWNER"},  # type: ignore[arg-type]
    )
    result = build_digest(settings, store, day=DAY, user_id="local", post=True, client=App(settings).slack)
    ids = [r.item.id for r in result.digest.items]
    record_feedback(store, user_id="local", item_id=ids[0], positive=False)
    with pytest.raises(AssistantError, match="no item"):
        record_feedback(store, user_id="local", item_id="arxiv:nope", positive=True)
    button = result.blocks[[b["type"] for b in result.blocks].index("actions")]["elements"][1][
        "value"
    ]
    assert button == f"down|local|{ids[0]}"
    assert "fewer" in handle_action(store, user_id="U0OWNER", value=f"down|local|{ids[1]}")
    assert "Only the owner" in handle_action(store, user_id="U0SOMEONE", value=f"up|local|{ids[1]}")
    ts = result.slack_ts
    assert handle_reaction(store, user_id="U0OWNER", channel="C0DIGEST", ts=ts, reaction="two") == [
        ids[1]
    ]
    assert (
        handle_reaction(store, user_id="U0SOMEONE", channel="C0DIGEST", ts=ts, reaction="one") == []
    )
    # thumbs on a many-item digest message is ambiguous; unknown messages are ignored
    assert handle_reaction(store, user_id="U0OWNER", channel="C0DIGEST", ts=ts, reaction="+1") == []
    assert (
        handle_reaction(store, user_id="U0OWNER", channel="C0DIGEST", ts="1.2", reaction="two")
        == []
    )
    assert store.profile.feedback_calls == [
        ("local", ids[0], False),
        ("local", ids[1], False),
        ("local", ids[1], True),
    ]


def test_an_item_pulled_after_the_digest_but_published_before_it_comes_next_day(
    home: Path, store: FakeMemory
) -> None:
    settings = _settings(top_n=2)
    first = build_digest(settings, store, day=DAY, user_id="local", post=False)
    assert first.considered == 6 and len(first.digest.items) == 2
    late = _paper(60, "Hierarchical reinforcement learning with options", RL[1][1], when=NOON - 600)
    store.items.upsert([late])  # pulled late: published before the first digest was built
    nxt = build_digest(settings, store, day=DAY + timedelta(days=1), user_id="local", post=False)
    # only the late item: the four considered yesterday but not shown do not come back
    assert [r.item.id for r in nxt.digest.items] == [late.id]

"""Fixtures for the scheduler, summariser and digest tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from tests.memfake import Embed
from tests.slack.fakeapi import FakeSlackAPI


@pytest.fixture(scope="session")
def embed() -> Embed:
    """The real all-MiniLM-L6-v2 embedding model, as a function of texts."""
    from sentence_transformers import SentenceTransformer

    from assistant.bundled import default_embedding_dir

    model = SentenceTransformer(str(default_embedding_dir()), device="cpu")

    cache: dict[str, list[float]] = {}  # the same texts come back in every test

    def run(texts: Sequence[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            for text, vec in zip(todo, model.encode(todo, normalize_embeddings=True), strict=True):
                cache[text] = [float(x) for x in vec]
        return [cache[t] for t in texts]

    return run


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    """The loopback Slack Web API the bot tests use too (records every call)."""
    api = FakeSlackAPI().start()
    yield api
    api.stop()

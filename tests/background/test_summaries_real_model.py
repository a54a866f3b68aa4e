"""Summaries by the real default model: every stored summary passes the checks or is extracted."""

from __future__ import annotations

import pytest

from assistant.background.summarise import summarise_items
from assistant.background.summary_checks import check_summary
from memory.types import Item

pytestmark = pytest.mark.slow

ABSTRACTS = [
    (
        "Synthetic data for diacritic restoration",
        "Diacritic restoration systems need large amounts of labelled text. We study whether "
        "synthetic text can replace it. We show that purely synthetic training degrades "
        "diacritic accuracy on Romanian news, while mixing in a small share of real text "
        "recovers most of the loss.",
    ),
    (
        "Sparse attention for long documents",
        "Transformers scale poorly with document length. We propose a sparse attention "
        "pattern that attends to a fixed window and a few global tokens. On three long "
        "document benchmarks it matches full attention while using a fraction of the memory.",
    ),
]


def test_every_summary_is_checked_against_its_source(real_engine) -> None:
    items = [
        Item(id=f"arxiv:{i}", owner="u", source="arxiv", title=title, text=text)
        for i, (title, text) in enumerate(ABSTRACTS)
    ]
    results = summarise_items(real_engine, items, max_new_tokens=80)
    for (summary, extracted), item in zip(results, items, strict=True):
        assert summary.strip()
        if extracted:
            assert summary in " ".join(item.text.split())  # a sentence of the source itself
        else:
            assert check_summary(summary, item.text).ok, summary
    # the first abstract's finding must never come back inverted
    assert "improv" not in results[0][0].lower()

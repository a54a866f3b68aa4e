"""Growing cache layers hold exactly what transformers' concatenating layers hold."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, MistralConfig
from transformers.cache_utils import DynamicLayer

from assistant.llm import kv_cache
from assistant.llm.kv_cache import GrowingLayer, new_cache
from tests.llm.conftest import TINY


def same(a: DynamicLayer, b: DynamicLayer) -> bool:
    return torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)


def test_every_cache_operation_matches_a_dynamic_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pre-fill, steps across a regrow, crop and rewrite, row selection, row repeat."""
    monkeypatch.setattr(kv_cache, "GROW", 8)  # small room: the regrow path runs too
    torch.manual_seed(0)
    ours, theirs = GrowingLayer(), DynamicLayer()

    def feed(n: int, rows: int = 3) -> None:
        k, v = torch.randn(rows, 2, n, 16), torch.randn(rows, 2, n, 16)
        a, b = ours.update(k, v), theirs.update(k.clone(), v.clone())
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

    feed(5)
    room = ours._room
    for _ in range(3):
        feed(1)  # fits: written in place, no new buffer
    assert ours._room is room and ours.get_seq_length() == 8
    feed(7)  # 15 > 13 positions of room: grows, keeps the old rows
    assert ours._room is not room and same(ours, theirs)
    ours.crop(-4)
    theirs.crop(-4)
    feed(2)  # writes over the cropped positions
    assert same(ours, theirs) and ours.get_seq_length() == 13
    idx = torch.tensor([2, 0])
    ours.batch_select_indices(idx)
    theirs.batch_select_indices(idx)
    feed(1, rows=2)  # selection copied the rows out: a fresh buffer from here
    ours.batch_repeat_interleave(2)
    theirs.batch_repeat_interleave(2)
    feed(3, rows=4)
    assert same(ours, theirs) and ours.keys.shape == (4, 2, 17, 16)


def test_new_cache_grows_plain_layers_and_keeps_sliding_ones() -> None:
    plain = new_cache(LlamaConfig(**TINY))
    assert all(isinstance(layer, GrowingLayer) for layer in plain.layers)
    sliding = new_cache(MistralConfig(**TINY, sliding_window=64))
    reference = DynamicCache(config=MistralConfig(**TINY, sliding_window=64))
    assert [type(a) for a in sliding.layers] == [type(b) for b in reference.layers]
    assert not any(isinstance(layer, GrowingLayer) for layer in sliding.layers)

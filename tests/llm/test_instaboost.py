"""InstABoost-style attention (the span's weights times a constant, renormalised) against its definition."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from assistant.llm import native_attention
from assistant.llm.split_softmax import (
    IMPLEMENTATION,
    SplitSpec,
    reference_attention,
    split_attention,
    split_decode,
)
from tests.llm.test_split_softmax import batch, random_attention, run, tiny_model


def attention_inputs(
    pads: list[int], spans: list[tuple[int, int]], tq: int, d: int
) -> tuple[Any, ...]:
    return random_attention(pads, spans, tq=tq, d=d, seed=3)


@pytest.mark.parametrize("boost", [2.0, 10.0])
def test_span_weights_grow_by_the_factor_and_the_rest_renormalise(boost: float) -> None:
    q, key, v, visible, in_span = attention_inputs([0, 3], [(0, 5), (4, 7)], tq=6, d=16)
    _, stock, _ = reference_attention(q, key, v, visible, in_span, 1.0, scale=0.25)
    _, boosted, _ = reference_attention(q, key, v, visible, in_span, 1.0, scale=0.25, boost=boost)
    s = in_span[:, None, None, :].expand_as(stock)
    both = (visible & in_span[:, None, None, :]).any(-1) & (visible & ~in_span[:, None, None, :]).any(-1)
    rows = both.expand(-1, q.shape[1], -1)  # (B, H, Tq): queries that see keys in and out of the span
    ratio = boosted / stock.clamp_min(1e-300)  # per key: boost / Z on the span, 1 / Z elsewhere
    z = 1 + (boost - 1) * (stock * s).sum(-1)  # the renormaliser: 1 + (boost - 1) * pi
    on_span = torch.where(s & (stock > 0), ratio, torch.nan)
    off_span = torch.where(~s & (stock > 0), ratio, torch.nan)
    assert torch.allclose(on_span.nanmean(-1)[rows], (boost / z)[rows], atol=1e-9)
    assert torch.allclose(off_span.nanmean(-1)[rows], (1 / z)[rows], atol=1e-9)
    assert torch.allclose(boosted.sum(-1)[rows], torch.ones_like(z[rows]), atol=1e-9)
    # Equivalently: softmax of the scores with log(boost) added on the span's keys.
    rep = q.shape[1] // key.shape[1]
    scores = (q.double() @ key.double().repeat_interleave(rep, 1).transpose(-1, -2)) * 0.25
    scores = (scores + s.double() * torch.log(torch.tensor(boost))).masked_fill(~visible, float("-inf"))
    assert torch.allclose(torch.softmax(scores, -1).nan_to_num(0.0)[rows], boosted[rows], atol=1e-9)


@pytest.mark.parametrize("d", [16, 64])  # 64: a head size the native kernel takes (it must not)
@pytest.mark.parametrize("tq", [6, 1])  # pre-fill and one-token step
def test_fast_form_gives_the_definitions_output(d: int, tq: int) -> None:
    pads, spans = [0, 3, 1], [(0, 5), (4, 7), (2, 2)]  # the last row has no span: stock there
    q, key, v, visible, in_span = attention_inputs(pads, spans, tq=tq, d=d)
    spec = SplitSpec.from_spans(1.0, spans, boost=5.0)
    fast = split_attention(q, key, v, visible, spec, scale=0.25)
    ref, _, _ = reference_attention(q, key, v, visible, in_span, 1.0, scale=0.25, boost=5.0)
    rows = visible.any(-1)[..., None].expand_as(ref)  # queries that see any key
    assert (fast.double()[rows] - ref[rows]).abs().max() < 1e-5
    stock, _, _ = reference_attention(q, key, v, visible, in_span, 1.0, scale=0.25)
    assert (fast.double()[rows] - stock[rows]).abs().max() > 1e-2  # the boost did something


@pytest.mark.parametrize("tq", [6, 1])
def test_native_kernel_computes_the_boost(tq: int) -> None:
    """The kernel takes the factor as a negative exponent; its output is the definition's."""
    if native_attention.KERNEL.function() is None:
        pytest.skip(f"no native attention kernel here: {native_attention.KERNEL.status()}")
    pads, spans = [0, 3], [(0, 5), (4, 7)]
    q, key, v, visible, in_span = attention_inputs(pads, spans, tq=tq, d=64)
    spec = SplitSpec.from_spans(1.0, spans, boost=5.0)
    assert spec.kernel_exponent == -5.0
    out = native_attention.attend(q, key, v, visible, 0.125, (-5.0, spec.starts, spec.ends))
    assert out is not None
    ref, _, _ = reference_attention(q, key, v, visible, in_span, 1.0, scale=0.125, boost=5.0)
    rows = visible.any(-1)[..., None].expand_as(ref)
    assert (out.double()[rows] - ref[rows]).abs().max() < 1e-5


def test_boost_with_k_below_1_takes_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel has one parameter: a boost combined with k < 1 must not reach it."""
    calls: list[object] = []
    monkeypatch.setattr(native_attention, "attend", lambda *a, **kw: calls.append(a) or None)
    q, key, v, visible, in_span = attention_inputs([0], [(2, 6)], tq=1, d=64)
    both = SplitSpec.from_spans(0.5, [(2, 6)], boost=3.0)
    assert both.kernel_exponent is None
    out = split_decode(q, key, v, None, both, 0.125).reshape(q.shape)
    assert calls == []
    ref, _, _ = reference_attention(q, key, v, visible, in_span, 0.5, scale=0.125, boost=3.0)
    assert (out.double() - ref).abs().max() < 1e-5
    split_decode(q, key, v, None, SplitSpec.from_spans(1.0, [(2, 6)], boost=3.0), 0.125)
    assert len(calls) == 1  # a plain boost asks the kernel


def test_boost_1_is_stock_attention_bit_for_bit() -> None:
    """Off (boost 1, k 1) the spec applies nowhere: the model's logits equal stock exactly."""
    model = tiny_model("llama")
    ids, mask = batch([0, 4])
    off = SplitSpec.from_spans(1.0, [(0, 9), (4, 13)], boost=1.0)
    assert not off.applies_to(0)
    stock = run(model, IMPLEMENTATION, None, ids, mask, steps=3)
    same = run(model, IMPLEMENTATION, off, ids, mask, steps=3)
    for a, b in zip(stock, same, strict=True):
        assert torch.equal(a, b)
    on = run(model, IMPLEMENTATION, SplitSpec.from_spans(1.0, [(0, 9), (4, 13)], boost=8.0), ids, mask)
    assert (on[0] - stock[0]).abs().max().item() > 1e-3


def test_boost_only_in_chosen_layers() -> None:
    model = tiny_model("llama")
    ids, _ = batch([0])
    stock = run(model, IMPLEMENTATION, None, ids, None)[0]
    layers = model.config.num_hidden_layers
    outside = SplitSpec.from_spans(1.0, [(0, 9)], layers=[layers + 3], boost=8.0)
    assert torch.equal(run(model, IMPLEMENTATION, outside, ids, None)[0], stock)
    inside = SplitSpec.from_spans(1.0, [(0, 9)], layers=[layers - 1], boost=8.0)
    assert (run(model, IMPLEMENTATION, inside, ids, None)[0] - stock).abs().max().item() > 1e-4


def test_boost_must_be_positive() -> None:
    with pytest.raises(ValueError, match="boost must be > 0"):
        SplitSpec.from_spans(1.0, [(0, 3)], boost=0.0)

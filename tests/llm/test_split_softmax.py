"""Split-softmax attention against stock attention, on tiny random models of four families."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import (
    DynamicCache,
    GemmaConfig,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from assistant.llm.split_softmax import (
    IMPLEMENTATION,
    SplitSpec,
    reference_attention,
    split_attention,
    split_context,
)
from tests.llm.conftest import TINY

FAMILIES: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "llama": (LlamaConfig, LlamaForCausalLM, {}),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, {}),
    "mistral": (MistralConfig, MistralForCausalLM, {"sliding_window": 64}),
    "gemma": (GemmaConfig, GemmaForCausalLM, {"head_dim": 16}),
}
TOL = 1e-5


def tiny_model(family: str) -> Any:
    config_cls, model_cls, extra = FAMILIES[family]
    torch.manual_seed(0)
    config = config_cls(**TINY, **extra)
    config._attn_implementation = "sdpa"
    return model_cls(config).eval()


def run(
    model: Any,
    impl: str,
    spec: SplitSpec | None,
    ids: torch.Tensor,
    mask: torch.Tensor | None,
    steps: int = 0,
) -> list[torch.Tensor]:
    """Logits of a prefill and then `steps` cached greedy decode steps."""
    model.set_attn_implementation(impl)
    out: list[torch.Tensor] = []
    cache = DynamicCache(config=model.config)
    positions = None if mask is None else (mask.cumsum(-1) - 1).clamp_min(0)
    with torch.no_grad(), split_context(spec):
        logits = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache
        ).logits
        out.append(logits)
        for _ in range(steps):
            nxt = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
                assert positions is not None
                positions = positions[:, -1:] + 1
            logits = model(
                input_ids=nxt, attention_mask=mask, position_ids=positions, cache=cache
            ).logits
            out.append(logits)
    return out


def batch(pads: list[int], length: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(3, 128, (len(pads), length))
    mask = torch.ones(len(pads), length, dtype=torch.long)
    for row, pad in enumerate(pads):
        ids[row, :pad] = 0
        mask[row, :pad] = 0
    return ids, mask


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("span", [(0, 9), (2, 9)])  # with and without the leading template tokens
def test_k1_reproduces_stock_attention_prefill_and_decode(
    family: str, span: tuple[int, int]
) -> None:
    model = tiny_model(family)
    ids, _ = batch([0])
    spec = SplitSpec.from_spans(1.0, [span])
    spec.always = True  # run the split form at k = 1
    stock = run(model, "sdpa", None, ids, None, steps=3)
    split = run(model, IMPLEMENTATION, spec, ids, None, steps=3)
    for a, b in zip(stock, split, strict=True):
        assert (a - b).abs().max().item() <= TOL


@pytest.mark.parametrize("family", list(FAMILIES))
def test_stock_decode_steps_equal_transformers_sdpa(family: str) -> None:
    """With no spec, one-token steps take the folded fast path; it must be sdpa's attention."""
    model = tiny_model(family)
    ids, _ = batch([0])
    stock = run(model, "sdpa", None, ids, None, steps=4)
    ours = run(model, IMPLEMENTATION, None, ids, None, steps=4)
    for a, b in zip(stock, ours, strict=True):
        assert (a - b).abs().max().item() <= TOL


@pytest.mark.parametrize("family", list(FAMILIES))
def test_k1_reproduces_stock_attention_with_left_padding(family: str) -> None:
    model = tiny_model(family)
    pads = [0, 5, 2]
    ids, mask = batch(pads)
    # A different system span per row, shifted by that row's padding; one row has none.
    spec = SplitSpec.from_spans(1.0, [(0, 8), (5 + 1, 5 + 6), (2, 2)])
    spec.always = True
    stock = run(model, "sdpa", None, ids, mask, steps=3)
    split = run(model, IMPLEMENTATION, spec, ids, mask, steps=3)
    valid = mask.bool()
    assert (stock[0][valid] - split[0][valid]).abs().max().item() <= TOL
    for a, b in zip(stock[1:], split[1:], strict=True):
        assert (a - b).abs().max().item() <= TOL


@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_k_below_1_changes_logits_only_in_chosen_layers(family: str) -> None:
    model = tiny_model(family)
    ids, _ = batch([0])
    stock = run(model, "sdpa", None, ids, None)[0]
    boosted = run(model, IMPLEMENTATION, SplitSpec.from_spans(0.3, [(0, 9)]), ids, None)[0]
    assert (stock - boosted).abs().max().item() > 1e-3
    # Queries inside the span see only S: plain attention there, so their logits are stock.
    assert (stock[:, :9] - boosted[:, :9]).abs().max().item() <= TOL
    elsewhere = run(
        model, IMPLEMENTATION, SplitSpec.from_spans(0.3, [(0, 9)], layers=[7]), ids, None
    )[0]
    assert (stock - elsewhere).abs().max().item() <= TOL


def random_attention(
    pads: list[int],
    spans: list[tuple[int, int]],
    tq: int = 6,
    tk: int = 14,
    d: int = 16,
    seed: int = 2,
) -> tuple[Any, ...]:
    """Random q/k/v (6 query heads on 2 kv heads), causal + padding visibility, span masks."""
    torch.manual_seed(seed)
    b, h, hkv = len(pads), 6, 2
    q = torch.randn(b, h, tq, d) * 2
    k = torch.randn(b, hkv, tk, d) * 2
    v = torch.randn(b, hkv, tk, d)
    q_pos = torch.arange(tq)[:, None] + (tk - tq)
    causal = torch.arange(tk)[None, :] <= q_pos  # (Tq, Tk)
    not_pad = torch.arange(tk)[None, :] >= torch.tensor(pads)[:, None]  # (B, Tk)
    visible = causal[None, None] & not_pad[:, None, None, :]  # (B, 1, Tq, Tk)
    in_span = torch.zeros(b, tk, dtype=torch.bool)
    for row, (s, e) in enumerate(spans):
        in_span[row, s:e] = True
    return q, k, v, visible, in_span


@pytest.mark.parametrize("k", [0.25, 0.5, 0.9])
def test_share_on_system_span_is_raised_to_pi_power_k(k: float) -> None:
    pads, spans = [0, 3], [(0, 5), (4, 7)]
    q, key, v, visible, in_span = random_attention(pads, spans)
    out, weights, pi = reference_attention(q, key, v, visible, in_span, k, scale=0.25)
    rows = visible.any(-1).expand_as(pi)  # queries that see anything
    share = (weights * in_span[:, None, None, :]).sum(-1)
    assert torch.allclose(share[rows], pi[rows] ** k, atol=1e-9)
    assert torch.allclose(weights.sum(-1)[rows], torch.ones_like(pi[rows]), atol=1e-9)
    assert (share[rows] >= pi[rows] - 1e-12).all()  # small shares are raised, never lowered
    # The fast split form (two fused softmaxes, pi from log-sum-exps) gives the same output.
    fast = split_attention(q, key, v, visible, SplitSpec.from_spans(k, spans), scale=0.25)
    assert (
        fast.double()[rows[..., None].expand_as(fast)] - out[rows[..., None].expand_as(out)]
    ).abs().max() < 1e-5


def test_split_form_is_stable_when_system_share_is_tiny() -> None:
    pads, spans = [0], [(0, 4)]
    q, key, v, visible, in_span = random_attention(pads, spans)
    key[:, :, :4] = -key[:, :, :4] * 0  # scores on S ~ 0 while others are large
    q = q * 30
    fast = split_attention(q, key, v, visible, SplitSpec.from_spans(0.5, spans), scale=0.25)
    ref, _, _ = reference_attention(q, key, v, visible, in_span, 0.5, scale=0.25)
    assert torch.isfinite(fast).all()
    assert (fast.double() - ref).abs().max() < 1e-4


@pytest.mark.parametrize("k", [0.3, 1.0])
@pytest.mark.parametrize("padded", [False, True])
def test_decode_step_matches_the_definition(k: float, padded: bool) -> None:
    """One-token steps take a fused path of their own; it must give the reference output."""
    if padded:  # per-row spans after left padding; the last row has no span (stock there)
        pads, spans = [0, 3, 1], [(0, 5), (4, 7), (2, 2)]
    else:  # one span after two template tokens, no mask: the usual chat step
        pads, spans = [0, 0], [(2, 6), (2, 6)]
    q, key, v, visible, in_span = random_attention(pads, spans, tq=1)
    spec = SplitSpec.from_spans(k, spans)
    spec.always = True
    fast = split_attention(q, key, v, visible if padded else None, spec, scale=0.25)
    ref, _, _ = reference_attention(q, key, v, visible, in_span, k, scale=0.25)
    assert (fast.double() - ref).abs().max() < 1e-5


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_stock_decode_with_left_padding_equals_transformers_sdpa(family: str) -> None:
    """Batched steps with padding fold heads too (the padding mask is shared by all heads)."""
    model = tiny_model(family)
    ids, mask = batch([0, 5, 2])
    stock = run(model, "sdpa", None, ids, mask, steps=4)
    ours = run(model, IMPLEMENTATION, None, ids, mask, steps=4)
    for a, b in zip(stock[1:], ours[1:], strict=True):
        assert (a - b).abs().max().item() <= TOL

"""Split-softmax written as the merge of two stock attention results equals the kernel."""

from __future__ import annotations

import pytest
import torch

from assistant.llm.split_merge import merge_states, split_by_merge, stock_partial
from assistant.llm.split_softmax import SplitSpec, split_attention
from tests.llm.test_split_softmax import random_attention

TOL = 1e-5  # float32


@pytest.mark.parametrize("k", [0.3, 0.5, 1.0])
@pytest.mark.parametrize(
    ("pads", "spans", "tq"),
    [
        ([0, 0], [(2, 6), (2, 6)], 6),  # prefill, one span after two template tokens
        ([0, 3], [(0, 5), (4, 7)], 6),  # left padding, per-row spans
        ([0, 3, 1], [(0, 5), (4, 7), (2, 2)], 1),  # decode; the last row has no span
        ([0, 0], [(0, 4), (0, 4)], 1),  # decode, span at the front
    ],
)
def test_the_merge_of_two_stock_results_equals_the_split_kernel(
    k: float, pads: list[int], spans: list[tuple[int, int]], tq: int
) -> None:
    q, key, v, visible, _ = random_attention(pads, spans, tq=tq)
    spec = SplitSpec.from_spans(k, spans)
    spec.always = True  # the kernel's split form also at k = 1
    kernel = split_attention(q, key, v, visible, spec, scale=0.25)
    merged = split_by_merge(q, key, v, visible, spec, scale=0.25)
    assert merged.dtype == torch.float32
    assert (merged - kernel).abs().max().item() <= TOL


def test_without_a_mask_the_merge_applies_causality_as_the_kernel_does() -> None:
    q, key, v, _, _ = random_attention([0], [(0, 5)], tq=6)
    spec = SplitSpec.from_spans(0.5, [(0, 5)])
    kernel = split_attention(q, key, v, None, spec, scale=0.25, causal=True)
    merged = split_by_merge(q, key, v, None, spec, scale=0.25, causal=True)
    assert (merged - kernel).abs().max().item() <= TOL


def test_the_plain_merge_is_stock_attention_and_k_changes_the_output() -> None:
    q, key, v, visible, in_span = random_attention([0, 2], [(0, 5), (2, 6)])
    span = in_span[:, None, None, :]
    out_s, lse_s = stock_partial(q, key, v, visible & span, 0.25)
    out_r, lse_r = stock_partial(q, key, v, visible & ~span, 0.25)
    merged, _ = merge_states(out_s, lse_s, out_r, lse_r)
    rep = q.shape[1] // key.shape[1]
    stock = torch.nn.functional.scaled_dot_product_attention(
        q, key.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), attn_mask=visible, scale=0.25
    )
    assert (merged - stock).abs().max().item() <= TOL
    split = split_by_merge(q, key, v, visible, SplitSpec.from_spans(0.5, [(0, 5), (2, 6)]), 0.25)
    assert (split - stock).abs().max().item() > 1e-2  # k < 1 really moves attention

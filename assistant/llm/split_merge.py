"""Split-softmax as a merge of two stock attention results: the path to a serving engine.

A serving engine's attention kernels (FlashAttention, FlashInfer, vLLM's and SGLang's
backends) can return, besides the output, the log-sum-exp of each query's scores. Two
such results over disjoint key sets merge exactly into attention over their union; this
is how cascade attention and split-KV decoding combine partial results:

    w_a = exp(lse_a - lse),  lse = logaddexp(lse_a, lse_b),  out = w_a * o_a + (1 - w_a) * o_b

`w_a` is the share of attention the first key set gets: for S = the system span it is
split-softmax's pi. Split-softmax is the same merge with that weight raised to k:

    out = pi**k * o_S + (1 - pi**k) * o_R,   pi = sigmoid(lse_S - lse_R)

so an engine needs no new kernel: run its stock kernel twice (keys in S, keys outside S),
ask for the log-sum-exps, and merge. `stock_partial` stands for one such kernel call;
`split_by_merge` is the whole layer, the same function as `split_softmax.split_attention`
(tests hold them equal within 1e-5 in float32). docs/scale.md maps it onto SGLang and vLLM.
"""

from __future__ import annotations

import torch

from assistant.llm.split_softmax import SplitSpec, _in_span, _visible


def stock_partial(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, visible: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stock attention over the visible keys, and its log-sum-exp, as an engine kernel returns them.

    query (B, H, Tq, D), key/value (B, Hkv, Tk, D), visible bool broadcastable to
    (B, 1, Tq, Tk). Returns out (B, H, Tq, D) and lse (B, H, Tq) in float32; a query that
    sees no key gets out 0 and lse -inf (the merge then gives it no weight).
    """
    b, h, tq, d = query.shape
    rep = h // key.shape[1]
    q = query.float().reshape(b, key.shape[1], rep * tq, d)  # (B, Hkv, rep*Tq, D): heads folded
    scores = (q @ key.float().transpose(-1, -2)) * scale  # (B, Hkv, rep*Tq, Tk)
    vis = visible.expand(b, 1, tq, key.shape[2]).repeat(1, 1, rep, 1)  # (B, 1, rep*Tq, Tk)
    scores = scores.masked_fill(~vis, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # (B, Hkv, rep*Tq)
    probs = torch.exp(scores - lse.nan_to_num(neginf=0.0)[..., None])  # masked keys: exp(-inf) = 0
    out = probs @ value.float()  # (B, Hkv, rep*Tq, D)
    return out.reshape(b, h, tq, d), lse.reshape(b, h, tq)


def merge_states(
    out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor, lse_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cascade merge: attention over the union of two disjoint key sets, and its lse."""
    lse = torch.logaddexp(lse_a, lse_b)  # (B, H, Tq)
    share_a = torch.exp(lse_a - lse.nan_to_num(neginf=0.0)).nan_to_num(0.0)  # (B, H, Tq)
    return torch.lerp(out_b, out_a, share_a.unsqueeze(-1)), lse


def merge_split(
    out_s: torch.Tensor, lse_s: torch.Tensor, out_r: torch.Tensor, lse_r: torch.Tensor, k: float
) -> torch.Tensor:
    """Split-softmax from the system part and the rest: the merge with its weight raised to k.

    A query that sees no key in S keeps o_R; one that sees nothing else keeps o_S.
    """
    pi = torch.sigmoid(lse_s - lse_r)  # (B, H, Tq): the stock share on S; -inf sides give 0 or 1
    return torch.lerp(out_r, out_s, pi.pow(k).unsqueeze(-1))  # pi**k * o_S + (1 - pi**k) * o_R


def split_by_merge(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    spec: SplitSpec,
    scale: float,
    causal: bool = True,
) -> torch.Tensor:
    """Split-softmax attention (B, H, Tq, D) from two stock partials and the merge.

    Same arguments and meaning as `split_softmax.split_attention`.
    """
    b, _, tq, _ = query.shape
    tk = key.shape[2]
    vis = _visible(attention_mask, b, tq, tk, causal, query.device)
    if vis is None:
        vis = torch.ones(1, 1, 1, tk, dtype=torch.bool, device=query.device)
    in_s = _in_span(spec, tk, query.device)  # (B, 1, 1, Tk)
    out_s, lse_s = stock_partial(query, key, value, vis & in_s, scale)
    out_r, lse_r = stock_partial(query, key, value, vis & ~in_s, scale)
    return merge_split(out_s, lse_s, out_r, lse_r, spec.k).to(query.dtype)

"""Split-softmax attention: raise the system prompt's attention share from pi to pi**k.

The same split also carries an InstABoost-style boost (arXiv 2506.13734): the span's
attention weights multiplied by a constant `boost` before renormalising, which is a
constant log(boost) added to the span's scores: pi' = sigmoid(lse_S - lse_R + log boost).

Registered with transformers as the attention implementation "split_softmax", so any
model whose attention goes through `AttentionInterface` (Llama, Qwen2, Mistral, Gemma,
...) can use it. The layer calls it once per forward; whether and how it changes
anything comes from the request that is running (`split_context`), so one loaded model
serves stock and split requests side by side.

For one head and one query, with scores s over the visible keys and S the system span:

    o_S, lse_S = attention and log-sum-exp over keys in S only
    o_R, lse_R = the same over the other keys
    pi  = sigmoid(lse_S - lse_R)                  (the stock share on S)
    out = pi**k * o_S + (1 - pi**k) * o_R

`reference_attention` computes the same thing from the full probability matrix (the
definition in SPLIT_SOFTMAX.md) for the tests.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from assistant.llm import native_attention

IMPLEMENTATION = "split_softmax"


@dataclass
class SplitSpec:
    """What the running request wants: exponent, layers and the span per batch row.

    `starts`/`ends` are key indices (positions in the KV cache, left padding included),
    one per batch row; a row with start == end has no system span and gets stock
    attention.
    """

    k: float
    starts: torch.Tensor  # (B,) long
    ends: torch.Tensor  # (B,) long
    layers: frozenset[int] | None = None  # None = every layer
    always: bool = False  # run the split form even at k = 1 (tests compare it with stock)
    # InstABoost: the span's weights times this before renormalising (1 = off). The native
    # kernels take it as a negative exponent (`kernel_exponent`).
    boost: float = 1.0
    _masks: dict[str, Any] = field(default_factory=dict, repr=False)  # per-forward cache
    # Plain ints, computed once: the attention function runs per layer and per token.
    lo: int = field(init=False)  # first key index of any row's span
    hi: int = field(init=False)  # one past the last
    uniform: bool = field(init=False)  # every row has the span [lo, hi)

    def __post_init__(self) -> None:
        if not self.boost > 0.0:
            raise ValueError(f"boost must be > 0 (1 = off), found {self.boost}")
        starts, ends = self.starts.tolist(), self.ends.tolist()
        self.lo, self.hi = min(starts), max(ends)
        self.uniform = all(a == self.lo for a in starts) and all(b == self.hi for b in ends)

    @classmethod
    def from_spans(
        cls,
        k: float,
        spans: Sequence[tuple[int, int]],
        layers: Sequence[int] = (),
        boost: float = 1.0,
    ) -> SplitSpec:
        """Build from python (start, end) pairs, one per batch row."""
        starts = torch.tensor([s for s, _ in spans], dtype=torch.long)
        ends = torch.tensor([e for _, e in spans], dtype=torch.long)
        return cls(
            k=k, starts=starts, ends=ends, layers=frozenset(layers) if layers else None, boost=boost
        )

    def select(self, rows: Sequence[int]) -> SplitSpec:
        """The spec for a subset of batch rows (finished rows leave the batch)."""
        idx = torch.tensor(list(rows), dtype=torch.long)
        return SplitSpec(
            self.k, self.starts[idx], self.ends[idx], self.layers, self.always, boost=self.boost
        )

    @property
    def boosted(self) -> bool:
        """An InstABoost spec (the span's weights times `boost`)."""
        return self.boost != 1.0

    @property
    def kernel_exponent(self) -> float | None:
        """k as the native kernels take it: -boost for InstABoost; None when they cannot
        (a boost combined with k < 1, which only the torch path computes)."""
        if not self.boosted:
            return self.k
        return -self.boost if self.k == 1.0 else None

    def applies_to(self, layer_idx: int | None) -> bool:
        if (self.k >= 1.0 and not self.boosted and not self.always) or self.hi <= self.lo:
            return False
        return self.layers is None or layer_idx is None or layer_idx in self.layers

    def share_logit(self, lse_s: torch.Tensor, lse_r: torch.Tensor) -> torch.Tensor:
        """lse_S - lse_R, plus log(boost) for InstABoost: its sigmoid is the span's share."""
        diff = lse_s - lse_r
        return diff + math.log(self.boost) if self.boosted else diff


_ACTIVE: ContextVar[SplitSpec | None] = ContextVar("split_softmax_spec", default=None)


@contextlib.contextmanager
def split_context(spec: SplitSpec | None) -> Iterator[None]:
    """Run model forwards inside this block with `spec` (None = stock attention)."""
    token = _ACTIVE.set(spec)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def register() -> None:
    """Make "split_softmax" a valid `attn_implementation` (masks as for sdpa)."""
    AttentionInterface.register(IMPLEMENTATION, split_softmax_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(IMPLEMENTATION, sdpa_mask)


def split_softmax_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """The attention function transformers calls; stock attention unless a spec applies."""
    spec = _ACTIVE.get()
    plain = dropout == 0.0 and kwargs.get("softcap") is None and kwargs.get("position_bias") is None
    if spec is None or not plain or not spec.applies_to(getattr(module, "layer_idx", None)):
        b, h, tq, d = query.shape
        scale = scaling if scaling is not None else 1.0 / math.sqrt(d)
        if plain and tq == 1 and query.is_cpu and _per_row(attention_mask):
            out = stock_decode(query, key, value, attention_mask, scale)
            return out.view(b, 1, h, d), None  # (B, Tq=1, H, D) as sdpa returns
        if plain:
            causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
            native = native_attention.attend(query, key, value, attention_mask, scale, None, causal)
            if native is not None:
                return native.transpose(1, 2).contiguous(), None  # (B, Tq, H, D)
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
            is_causal=is_causal, **kwargs,
        )  # fmt: skip
    scale = scaling if scaling is not None else 1.0 / math.sqrt(query.shape[-1])
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    out = split_attention(query, key, value, attention_mask, spec, scale, causal)
    if out.shape[2] == 1 and out.is_contiguous():
        return out.view(out.shape[0], 1, -1, out.shape[3]), None  # (B, 1, H, D): same memory
    return out.transpose(1, 2).contiguous(), None  # (B, Tq, H, D) as sdpa returns


# ---------------------------------------------------------------- masks (once per forward)


def _per_row(mask: torch.Tensor | None) -> bool:
    """No mask, or one mask row per batch row shared by all heads (padding in a batch)."""
    return mask is None or (mask.dim() == 4 and mask.shape[1] == 1 and mask.shape[2] == 1)


# The last (mask, additive copy): every layer of a forward gets the same mask object.
_ADDITIVE: list[Any] = [None, None]


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """`mask` as the fused CPU kernel takes it (additive, in the query's dtype); once per forward."""
    if mask is None or mask.dtype == dtype:
        return mask
    source, converted = _ADDITIVE
    if source is mask and converted.dtype == dtype:
        return converted  # type: ignore[no-any-return]
    if mask.dtype == torch.bool:
        converted = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
            ~mask, float("-inf")
        )
    else:  # another float dtype: its very negative values become -inf
        converted = mask.to(dtype).masked_fill_(
            mask <= torch.finfo(mask.dtype).min / 2, float("-inf")
        )
    _ADDITIVE[:] = [mask, converted]
    return converted


def _visible(
    mask: torch.Tensor | None, b: int, tq: int, tk: int, causal: bool, device: torch.device
) -> torch.Tensor | None:
    """Boolean (B|1, 1, Tq, Tk) of keys a query may see, or None when it sees all."""
    if mask is not None:
        if mask.dtype == torch.bool:
            return mask
        return mask > torch.finfo(mask.dtype).min / 2  # additive float mask
    if not causal or tq == 1:
        return None
    # No mask means stock sdpa relies on is_causal; the cache offset aligns bottom-right.
    q_pos = torch.arange(tq, device=device)[:, None] + (tk - tq)
    return (torch.arange(tk, device=device)[None, :] <= q_pos)[None, None]  # (1, 1, Tq, Tk)


def _in_span(spec: SplitSpec, tk: int, device: torch.device) -> torch.Tensor:
    """Boolean (B, 1, 1, Tk): which keys of each row lie in its system span."""
    keys = torch.arange(tk, device=device)[None, :]
    starts, ends = spec.starts.to(device)[:, None], spec.ends.to(device)[:, None]
    return ((keys >= starts) & (keys < ends))[:, None, None, :]


@dataclass
class _Masks:
    mask_s: torch.Tensor | None  # additive (B, 1, rep*Tq | 1, hi-lo); None = all visible
    mask_r: torch.Tensor | None  # additive (B, 1, rep*Tq | 1, Tk') for the other keys
    r_from: int  # keys before this index are skipped in the R part (S at the front)
    has_s: torch.Tensor | None  # (B, 1, rep*Tq | 1) query sees a key in S; None = all do
    has_both: torch.Tensor | None  # sees keys in S and outside S


def _masks(
    spec: SplitSpec, mask: torch.Tensor | None, q: torch.Tensor, tk: int, rep: int, causal: bool
) -> _Masks:
    """Additive masks for the two parts, cached on the spec across the layers of one forward."""
    b, _, tq, _ = q.shape
    cache_key = (tq, tk, rep, q.dtype)
    hit = spec._masks.get("last")
    if hit is not None and hit[0] == cache_key and hit[1] is mask:
        return hit[2]  # type: ignore[no-any-return]
    lo, hi = spec.lo, spec.hi
    vis = _visible(mask, b, tq, tk, causal, q.device)
    if vis is None and spec.uniform and lo == 0 and tk > hi:
        # Decode without padding, span at the front: both parts are plain slices.
        result = _Masks(None, None, hi, None, None)
    else:
        in_s = _in_span(spec, tk, q.device)  # (B, 1, 1, Tk)
        if vis is None:
            vis = torch.ones(1, 1, 1, tk, dtype=torch.bool, device=q.device)
        vis_s = (vis & in_s)[..., lo:hi]  # (B, 1, Tq|1, hi-lo)
        vis_r = vis & ~in_s  # (B, 1, Tq|1, Tk)
        has_s = vis_s.any(-1)  # (B, 1, Tq|1)
        has_both = has_s & vis_r.any(-1)
        if tq > 1:
            # Queries are folded as (B, Hkv, rep*Tq, D): repeat the mask rows to match.
            vis_s, vis_r = vis_s.repeat(1, 1, rep, 1), vis_r.repeat(1, 1, rep, 1)
            has_s, has_both = has_s.repeat(1, 1, rep), has_both.repeat(1, 1, rep)
        zero = torch.zeros((), dtype=q.dtype, device=q.device)
        ninf = torch.tensor(float("-inf"), dtype=q.dtype, device=q.device)
        result = _Masks(
            torch.where(vis_s, zero, ninf), torch.where(vis_r, zero, ninf), 0, has_s, has_both
        )
    spec._masks["last"] = (cache_key, mask, result)
    return result


# ---------------------------------------------------------------- the split form


# The overload itself: calling it skips the op-packet lookup, which counts at decode time.
_CPU_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default


def _attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output and log-sum-exp of the scaled scores; (B, h, T, D), (B, h, T)."""
    if q.device.type == "cpu":
        # The fused CPU kernel returns the log-sum-exp too; fully masked rows give 0, 0.
        out, lse = _CPU_FLASH(q, k, v, attn_mask=mask, scale=scale)
        return out, lse
    scores = (q @ k.transpose(-1, -2)).float() * scale  # (B, h, T, Tk)
    if mask is not None:
        scores = scores + mask.float()
    lse = torch.logsumexp(scores, dim=-1)  # (B, h, T)
    probs = torch.exp(scores - lse.nan_to_num(neginf=0.0)[..., None]).nan_to_num(0.0)
    return (probs.to(v.dtype) @ v), lse.nan_to_num(neginf=0.0)


@dataclass
class _DecodeMasks:
    mask: torch.Tensor  # additive (B|1, 1, 2*rep, Tk): rows < rep see S, the others the rest
    has_s: torch.Tensor | None  # (B|1, 1, 1) the query sees a key in S; None = every row does
    has_both: torch.Tensor | None  # sees keys in S and outside S


def _decode_masks(
    spec: SplitSpec, mask: torch.Tensor | None, q: torch.Tensor, tk: int, rep: int, causal: bool
) -> _DecodeMasks:
    """The two-part mask of a decode step, cached on the spec across the layers of one forward."""
    cache_key = (tk, rep, q.dtype, q.device)
    hit = spec._masks.get("decode")
    if hit is not None and hit[0] == cache_key and hit[1] is mask:
        return hit[2]  # type: ignore[no-any-return]
    in_s = _in_span(spec, tk, q.device)  # (B, 1, 1, Tk)
    vis = _visible(mask, q.shape[0], 1, tk, causal, q.device)  # (B|1, 1, 1, Tk) or None
    vis_s, vis_r = (in_s, ~in_s) if vis is None else (vis & in_s, vis & ~in_s)
    has_s: torch.Tensor | None = vis_s.any(-1)  # (B, 1, 1)
    has_both: torch.Tensor | None = has_s & vis_r.any(-1)  # type: ignore[operator]
    if bool(has_both.all()):  # type: ignore[union-attr]
        has_s = has_both = None  # the usual case: skip the per-row fix-up in every layer
    rows = torch.cat([vis_s.expand(-1, -1, rep, -1), vis_r.expand(-1, -1, rep, -1)], dim=2)
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    ninf = torch.tensor(float("-inf"), dtype=q.dtype, device=q.device)
    result = _DecodeMasks(torch.where(rows, zero, ninf), has_s, has_both)  # (B, 1, 2*rep, Tk)
    spec._masks["decode"] = (cache_key, mask, result)
    return result


def active_spec() -> SplitSpec | None:
    """The split spec of the request running now (None: stock attention)."""
    return _ACTIVE.get()


def stock_decode(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    """Stock attention of a one-token CPU step, (B, Hkv, rep, D) for query (B, H, 1, D).

    The query heads of a key/value head are folded into rows: sdpa's CPU kernel handles
    one row per head slowly (measured 3.5x slower at 300 keys, 7x at 1000 for SmolLM2's
    9 heads on 3). `attention_mask` may be a (B, 1, 1, Tk) padding mask.
    """
    b, h, _, d = query.shape
    hkv = key.shape[1]
    native = native_attention.attend(query, key, value, attention_mask, scale)
    if native is not None:
        return native.view(b, hkv, h // hkv, d)
    out, _ = _CPU_FLASH(
        query.reshape(b, hkv, h // hkv, d), key, value,
        attn_mask=_additive(attention_mask, query.dtype), scale=scale,
    )  # fmt: skip
    return out


def split_decode(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    spec: SplitSpec,
    scale: float,
    causal: bool = True,
) -> torch.Tensor:
    """Split-softmax attention of a one-token CPU step, (B, Hkv, rep, D) for query (B, H, 1, D).

    One fused call over the query rows twice, the first copy seeing only S and the second
    only the rest (a mask built once per forward). A call per part pays the kernel's
    fixed cost twice: measured on SmolLM2 at 300 keys, the split form's cost over stock
    fell from 69 to about 40 us a layer. The native kernel, where built, does it in one
    pass at the cost of stock attention.
    """
    b, h, _, d = query.shape
    hkv, tk = key.shape[1], key.shape[2]
    kexp = spec.kernel_exponent
    if kexp is not None:
        native = native_attention.attend(
            query, key, value, attention_mask, scale, (kexp, spec.starts, spec.ends)
        )
        if native is not None:
            return native.view(b, hkv, h // hkv, d)
    rep = h // hkv
    q = query.reshape(b, hkv, rep, d)  # head h = kv*rep + r
    dm = _decode_masks(spec, attention_mask, query, tk, rep, causal)
    out2, lse2 = _CPU_FLASH(torch.cat([q, q], dim=2), key, value, attn_mask=dm.mask, scale=scale)
    pi = torch.sigmoid(spec.share_logit(lse2[..., :rep], lse2[..., rep:]))  # (B, Hkv, rep): share on S
    if dm.has_s is not None and dm.has_both is not None:
        pi = torch.where(dm.has_both, pi, dm.has_s.to(pi.dtype))
    weight = pi.pow_(spec.k).to(out2.dtype).unsqueeze(-1)  # (B, Hkv, rep, 1): pi ** k
    return torch.lerp(out2[:, :, rep:], out2[:, :, :rep], weight)


def split_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    spec: SplitSpec,
    scale: float,
    causal: bool = True,
) -> torch.Tensor:
    """Split-softmax attention output (B, H, Tq, D) for query (B, H, Tq, D), key/value (B, Hkv, Tk, D)."""
    b, h, tq, d = query.shape
    hkv, tk = key.shape[1], key.shape[2]
    rep = h // hkv
    if tq == 1 and query.device.type == "cpu":
        return split_decode(query, key, value, attention_mask, spec, scale, causal).view(b, h, 1, d)
    kexp = spec.kernel_exponent
    if kexp is not None:
        native = native_attention.attend(
            query, key, value, attention_mask, scale, (kexp, spec.starts, spec.ends), causal
        )
        if native is not None:
            return native
    lo, hi = spec.lo, spec.hi
    # Fold query heads that share a key/value head into the query axis: no repeat_kv copies.
    q = query.reshape(b, hkv, rep * tq, d)  # (B, Hkv, rep*Tq, D); head h = kv*rep + r
    m = _masks(spec, attention_mask, query, tk, rep, causal)
    o_s, lse_s = _attend(q, key[:, :, lo:hi], value[:, :, lo:hi], m.mask_s, scale)
    o_r, lse_r = _attend(q, key[:, :, m.r_from :], value[:, :, m.r_from :], m.mask_r, scale)
    pi = torch.sigmoid(spec.share_logit(lse_s, lse_r))  # (B, Hkv, rep*Tq): share on S
    if m.has_s is not None and m.has_both is not None:
        # No key in S: share 0 (plain o_R); no key outside S: share 1 (plain o_S).
        pi = torch.where(m.has_both, pi, m.has_s.to(pi.dtype))
    weight = pi.pow(spec.k).to(o_r.dtype).unsqueeze(-1)  # (B, Hkv, rep*Tq, 1)
    out = torch.lerp(o_r, o_s, weight)  # pi' * o_S + (1 - pi') * o_R
    return out.reshape(b, h, tq, d)  # (B, H, Tq, D)


# ---------------------------------------------------------------- reference (tests)


def reference_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    visible: torch.Tensor,
    in_span: torch.Tensor,
    k: float,
    scale: float,
    boost: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The definition, on the full probability matrix (float64; small inputs only).

    Args:
        visible: bool (B, 1, Tq, Tk), keys each query may see.
        in_span: bool (B, Tk), keys in the system span.
        boost: InstABoost's factor on the span's weights before renormalising (then ** k).

    Returns:
        output (B, H, Tq, D), reweighted probabilities a' (B, H, Tq, Tk), stock share pi (B, H, Tq).
    """
    rep = query.shape[1] // key.shape[1]
    kk = key.double().repeat_interleave(rep, dim=1)  # (B, H, Tk, D)
    vv = value.double().repeat_interleave(rep, dim=1)
    scores = (query.double() @ kk.transpose(-1, -2)) * scale  # (B, H, Tq, Tk)
    scores = scores.masked_fill(~visible, float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # fully masked rows: all 0
    s_mask = in_span[:, None, None, :].double()  # (B, 1, 1, Tk)
    pi = (probs * s_mask).sum(-1)  # (B, H, Tq)
    has_s = ((visible & in_span[:, None, None, :]).any(-1)).expand_as(pi)
    has_r = ((visible & ~in_span[:, None, None, :]).any(-1)).expand_as(pi)
    both = has_s & has_r
    boosted = boost * pi / (1 + (boost - 1) * pi)  # the span's weights times boost, renormalised
    pi_new = torch.where(both, boosted.clamp_min(1e-300) ** k, pi)
    up = torch.where(both, pi_new / pi.clamp_min(1e-300), torch.ones_like(pi))
    down = torch.where(both, (1 - pi_new) / (1 - pi).clamp_min(1e-300), torch.ones_like(pi))
    weights = probs * (s_mask * up[..., None] + (1 - s_mask) * down[..., None])
    return weights @ vv, weights, pi


register()

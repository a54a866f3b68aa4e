"""A BERT encoder run on the real tokens of a batch only: mean-pooled sentence vectors, faster.

A padded batch spends the Linear layers (two thirds of an embedding's time) on padding
too: texts sorted by length still carried 16-30% pad tokens on LoCoMo turns. Here the
per-token work (Linear, GELU, LayerNorm, residuals) runs on the packed (tokens, D) rows
of the real tokens; only attention sees the padded (B, T) layout, with a mask. The
query, key and value projections are one matrix multiply (one cast, one wider product),
and the feed-forward's inner activation stays in the Linear layers' dtype (it is rounded
to it before the next product anyway, so this changes no result).

Used only for a plain BERT encoder (absolute positions, exact GELU, no decoder parts) whose
output it reproduces: `PackedBert.for_network` checks a few texts against the module's
own forward and returns None (the caller keeps the padded path) if any vector differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# a packed vector must agree with the float32 padded forward's vector this closely (cosine):
# float32 products differ only in summation order; bfloat16 ones as the padded bfloat16 path
AGREE = {"float32": 0.99999, "bfloat16": 0.9999}
CHECK_TEXTS = (
    "ok",
    "Where did you go camping in July?",
    "Melanie: I ran a charity race for mental health last Saturday, it was so rewarding! " * 2,
)


@dataclass
class _Layer:
    qkv_w: Any
    qkv_b: Any
    out_w: Any
    out_b: Any
    ln1: tuple[Any, Any]
    up_w: Any
    up_b: Any
    down_w: Any
    down_b: Any
    ln2: tuple[Any, Any]


def _onednn_linear_available() -> bool:
    import torch

    ops = torch.ops.mkldnn
    try:
        return (
            torch.backends.mkldnn.is_available()
            and hasattr(ops, "_linear_pointwise")
            and hasattr(ops, "_reorder_linear_weight")
        )
    except (AttributeError, RuntimeError):
        return False


def _plain_bert(network: Any) -> bool:
    cfg = getattr(network, "config", None)
    return (
        type(network).__name__ == "BertModel"
        and cfg is not None
        and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
        and getattr(cfg, "hidden_act", "") == "gelu"
        and not getattr(cfg, "is_decoder", False)
        and not getattr(cfg, "add_cross_attention", False)
        and hasattr(network, "embeddings")
        and hasattr(network, "encoder")
    )


class PackedBert:
    """input ids and attention mask -> mean of the last hidden states over real tokens (B, D)."""

    def __init__(self, network: Any, weights: Any, *, prepack: bool = True) -> None:
        import torch

        cfg = network.config
        self.embeddings = network.embeddings
        self.heads = int(cfg.num_attention_heads)
        self.eps = float(cfg.layer_norm_eps)
        self.dtype = weights  # the Linear layers' dtype: bfloat16 or float32
        # bfloat16 products through oneDNN with weights laid out for it once (F.linear
        # re-lays them out on every call) and GELU fused into the product
        self.onednn = prepack and weights == torch.bfloat16 and _onednn_linear_available()

        def cast(t: Any) -> Any:
            t = t.detach().to(weights).contiguous()
            if self.onednn and t.dim() == 2:
                return torch.ops.mkldnn._reorder_linear_weight(t, 1024)
            return t

        def f32(t: Any) -> Any:
            return t.detach().to(torch.float32)

        self.layers: list[_Layer] = []
        for layer in network.encoder.layer:
            sa = layer.attention.self
            self.layers.append(
                _Layer(
                    qkv_w=cast(torch.cat([sa.query.weight, sa.key.weight, sa.value.weight])),
                    qkv_b=cast(torch.cat([sa.query.bias, sa.key.bias, sa.value.bias])),
                    out_w=cast(layer.attention.output.dense.weight),
                    out_b=cast(layer.attention.output.dense.bias),
                    ln1=(
                        f32(layer.attention.output.LayerNorm.weight),
                        f32(layer.attention.output.LayerNorm.bias),
                    ),
                    up_w=cast(layer.intermediate.dense.weight),
                    up_b=cast(layer.intermediate.dense.bias),
                    down_w=cast(layer.output.dense.weight),
                    down_b=cast(layer.output.dense.bias),
                    ln2=(f32(layer.output.LayerNorm.weight), f32(layer.output.LayerNorm.bias)),
                )
            )

    @staticmethod
    def for_network(network: Any, tokenizer: Any, precision: str) -> PackedBert | None:
        """A packed copy of a float32 BERT network, or None where it would not give its vectors.

        `network` is the float32 module as loaded: the check compares against it with its
        Linear layers in float32, so it must run before any are swapped for bfloat16 ones.
        """
        import torch

        if not _plain_bert(network):
            return None
        weights = torch.bfloat16 if precision == "bfloat16" else torch.float32
        with torch.inference_mode():
            enc = tokenizer(list(CHECK_TEXTS), padding=True, return_tensors="pt")
            hidden = network(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        for prepack in (True, False):  # oneDNN's own layout first, plain torch products after
            try:
                packed = PackedBert(network, weights, prepack=prepack)
                with torch.inference_mode():
                    got = torch.nn.functional.normalize(packed(**enc), dim=-1)
                agree = float((want * got).sum(-1).min())
            except (RuntimeError, AttributeError, TypeError, ValueError) as exc:
                log.info("memory: packed BERT (prepacked %s) unavailable (%s)", prepack, exc)
                continue
            if agree >= AGREE.get(precision, AGREE["float32"]):
                return packed
            log.info(
                "memory: packed BERT (prepacked %s) vectors differ (cosine %.6f)", prepack, agree
            )
        return None

    def _linear(self, x: Any, weight: Any, bias: Any, *, gelu: bool = False) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        if self.onednn:
            if gelu:
                return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        y = F.linear(x, weight, bias)
        return F.gelu(y) if gelu else y

    def __call__(
        self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None, **_: Any
    ) -> Any:
        """(B, D) float32: each text's mean hidden state over its real tokens (not normalised)."""
        import torch
        import torch.nn.functional as F  # noqa: N812

        batch, length = input_ids.shape
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, T, D)
        dim = x.shape[-1]
        head = dim // self.heads
        real = attention_mask.reshape(-1).bool()
        rows = real.nonzero().squeeze(1)  # positions of the real tokens in the (B*T) layout
        h = x.reshape(batch * length, dim).index_select(0, rows)  # (n, D) float32
        padded = bool(rows.numel() != batch * length)
        mask = attention_mask.bool()[:, None, None, :] if padded else None  # (B, 1, 1, T)
        dt = self.dtype
        wide = h.new_zeros(batch * length, 3 * dim, dtype=dt) if padded else None
        for layer in self.layers:
            # attention takes q, k, v in the products' dtype: they are rounded to it already,
            # and the kernel accumulates in float32; its output is rounded to it next anyway
            qkv = self._linear(h.to(dt), layer.qkv_w, layer.qkv_b)  # (n, 3D)
            if wide is not None:
                qkv = wide.index_copy_(0, rows, qkv)  # pad rows stay zero: masked out below
            q, k, v = qkv.view(batch, length, 3, self.heads, head).permute(2, 0, 3, 1, 4).unbind(0)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, hd)
            ctx = ctx.transpose(1, 2).reshape(batch * length, dim)
            if padded:
                ctx = ctx.index_select(0, rows)
            attn = self._linear(ctx, layer.out_w, layer.out_b)
            h = F.layer_norm(attn + h, (dim,), *layer.ln1, eps=self.eps)  # float32 (h is)
            inner = self._linear(h.to(dt), layer.up_w, layer.up_b, gelu=True)  # (n, 4D), dt
            out = self._linear(inner, layer.down_w, layer.down_b)
            h = F.layer_norm(out + h, (dim,), *layer.ln2, eps=self.eps)
        sums = h.new_zeros(batch, dim).index_add_(0, rows // length, h)
        counts = attention_mask.sum(dim=1, keepdim=True).clamp(min=1).to(torch.float32)
        return sums / counts

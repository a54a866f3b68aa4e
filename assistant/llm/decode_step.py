"""A lean one-token forward for Llama-layout models: the same arithmetic, fewer Python steps.

A decode step of SmolLM2-135M runs about 1,000 small torch ops. Through transformers'
modules each op also pays for module calls, keyword plumbing, mask and output objects:
about a third of the step on a 2-core CPU (measured 15.9 ms per step through the model,
11.0 ms here, same logits to the bit). This module walks the same layers with the same
tensors in the same order, calling the weights directly.

It covers what the engine's decode loop feeds: one new token per row, a DynamicCache
that already holds the prompt, and optionally a 2D padding mask with per-row positions
(batches). It is used only where the arithmetic is known to match transformers: the
Llama layout (RMSNorm, rotary q/k, SiLU-gated MLP, no sliding window), on CPU, with the
split-softmax attention registered. Anything else returns None from `decode_step_for`
and keeps the model's own forward. tests/llm/test_decode_step.py compares the two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from assistant.llm import split_softmax
from assistant.llm.int4_decode import Int4DecodeLinear, fused_native
from assistant.llm.native_step import NativeStep

log = logging.getLogger(__name__)

# transformers' own classes for these model types have the Llama layout exactly.
LLAMA_LAYOUT = {"llama", "qwen2", "mistral"}
Linear = Callable[[torch.Tensor], torch.Tensor]


def _linear(module: torch.nn.Linear, rows: int) -> Linear:
    """The layer's multiply for `rows` input rows (B, in) -> (B, out), as a plain function.

    Packed int4 planes where Int4DecodeLinear would use them, the dense weight otherwise;
    bound once, so a step does no module attribute lookups.
    """
    weight, bias = module.weight, module.bias
    if isinstance(module, Int4DecodeLinear) and rows <= module.max_rows:
        return module.bound_multiply()
    if bias is None:
        return lambda x: F.linear(x, weight)
    return lambda x: F.linear(x, weight, bias)


def _together(
    modules: list[torch.nn.Linear], rows: int
) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """The layers' multiplies of one input x, as a function returning their outputs.

    Through one native call where the kernel has their layouts (fused_native), with the
    outputs as views of its result; else (or when the kernel declines x) one by one.
    """
    single = [_linear(m, rows) for m in modules]
    fused = fused_native(list(modules), rows)
    sizes = [m.out_features for m in modules]
    if fused is None:
        return lambda x: [f(x) for f in single]

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        out = fused(x)
        if out is None:
            return [f(x) for f in single]
        return list(out.split(sizes, dim=-1))

    return run


def unsupported_reason(model: Any) -> str | None:
    """Why `model` must keep its own forward for decode steps, or None when it need not."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in LLAMA_LAYOUT:
        return "not a Llama-layout model"
    if getattr(config, "hidden_act", None) != "silu":
        return f"activation {getattr(config, 'hidden_act', None)!r}"
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None:
        if any(t != "full_attention" for t in layer_types):
            return "sliding-window layers"
    elif getattr(config, "sliding_window", None) is not None:
        return "sliding-window attention"
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if inner is None or not isinstance(layers, torch.nn.ModuleList):
        return "unknown module layout"
    if next(model.parameters()).device.type != "cpu":
        return "not on CPU (measured and tested on CPU only)"
    for layer in layers:
        attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
        parts = [getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        parts += [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
        if not all(isinstance(p, torch.nn.Linear) for p in parts):
            return "unknown module layout"
        for norm in (layer.input_layernorm, layer.post_attention_layernorm):
            if not type(norm).__name__.endswith("RMSNorm"):
                return "unknown norm"
    return None


class DecodeStep:
    """Logits for one new token per row, the model's layers run without module calls.

    Build with `decode_step_for(model)`. Call inside the engine's `split_context` and
    `inference_mode`, like a model forward.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        inner = model.model
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(inner.layers[0].self_attn.head_dim)
        self.embed = inner.embed_tokens.weight
        self.rotary = inner.rotary_emb
        self.final_norm = (inner.norm.weight, float(inner.norm.variance_epsilon))
        # One plan per batch width: each matrix multiplies packed or densely by its row limit.
        self.plans: dict[int, tuple[Linear, list[tuple[Any, ...]]]] = {}
        # One-row steps in one native call (native_step.py) where it applies; built at the
        # first one-row step (the weights' layouts are final by then). False: not here.
        self.native: NativeStep | None | bool = None

    @staticmethod
    def _plan(model: Any, rows: int) -> tuple[Linear, list[tuple[Any, ...]]]:
        layers = []
        for layer in model.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            layers.append(
                (
                    layer.input_layernorm.weight,
                    float(layer.input_layernorm.variance_epsilon),
                    _together([attn.q_proj, attn.k_proj, attn.v_proj], rows),
                    _linear(attn.o_proj, rows),
                    layer.post_attention_layernorm.weight,
                    float(layer.post_attention_layernorm.variance_epsilon),
                    _together([mlp.gate_proj, mlp.up_proj], rows),
                    _linear(mlp.down_proj, rows),
                    attn,
                )
            )
        return _linear(model.lm_head, rows), layers

    def usable(self) -> bool:
        """False while another attention is set (the benchmark's transformers-sdpa runs)."""
        return bool(self.model.config._attn_implementation == split_softmax.IMPLEMENTATION)

    def __call__(
        self,
        input_ids: torch.Tensor,
        cache: Any,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        between_layers: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Float logits (B, V) for input_ids (B, 1) after the cached tokens.

        attention_mask: 2D (B, past + 1), 1 for real tokens (left padding 0), as the model takes it.
        position_ids: (B, 1); None means the cache length (no padding).
        between_layers: called before each layer and the head (background work yields there).
        """
        b = input_ids.shape[0]
        hd = self.head_dim
        plan = self.plans.get(b)
        if plan is None:
            plan = self.plans[b] = self._plan(self.model, b)
        head, layers = plan
        if b == 1 and attention_mask is None and between_layers is None:
            if self.native is None:
                self.native = NativeStep.build(self.model, head) or False
            if self.native:
                assert isinstance(self.native, NativeStep)
                logits = self.native(input_ids, cache, position_ids, split_softmax.active_spec())
                if logits is not None:
                    return logits
        h = F.embedding(input_ids[:, 0], self.embed)  # (B, hidden): one token per row
        if position_ids is None:
            position_ids = torch.full((b, 1), cache.get_seq_length(), dtype=torch.long)
        cos, sin = self.rotary(h, position_ids)  # (B, 1, hd)
        cos, sin = cos[:, None], sin[:, None]  # (B, 1, 1, hd): broadcast over heads
        # The mask transformers builds for one step with padding: (B, 1, 1, T), True = visible.
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        q_shape, kv_shape = (b, 1, self.heads, hd), (b, 1, self.kv_heads, hd)
        spec = split_softmax.active_spec()
        for i, (w1, eps1, qkv, o_, w2, eps2, gate_up, down, attn) in enumerate(layers):
            if between_layers is not None:
                between_layers()
            x = _rms_norm(h, w1, eps1)
            q, k, v = qkv(x)
            q = _rotate(q.view(q_shape).transpose(1, 2), cos, sin)  # (B, H, 1, hd)
            k = _rotate(k.view(kv_shape).transpose(1, 2), cos, sin)  # (B, Hkv, 1, hd)
            v = v.view(kv_shape).transpose(1, 2)
            k, v = cache.layers[i].update(k, v)  # (B, Hkv, T, hd)
            if spec is not None and spec.applies_to(i):
                o = split_softmax.split_decode(q, k, v, mask, spec, attn.scaling)
            else:
                o = split_softmax.stock_decode(q, k, v, mask, attn.scaling)
            h = h + o_(o.reshape(b, -1))  # o: (B, Hkv, rep, hd), heads in order
            x = _rms_norm(h, w2, eps2)
            gate, up = gate_up(x)
            h = h + down(F.silu(gate) * up)
        if between_layers is not None:
            between_layers()
        weight, eps = self.final_norm
        return head(_rms_norm(h, weight, eps)).float()  # (B, V)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' Llama RMSNorm, op for op (float32 inside, weight applied in the input dtype)."""
    if x.dtype == torch.float32 and weight.dtype == torch.float32:
        # torch's own: the same ops and bits for float32, one Python call instead of seven
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    xf = x.float()
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding as transformers applies it: x * cos + rotate_half(x) * sin."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def decode_step_for(model: Any) -> DecodeStep | None:
    """A DecodeStep for `model`, or None (logged) when it must keep its own forward."""
    reason = unsupported_reason(model)
    if reason is not None:
        log.debug("decode steps use the model's own forward: %s", reason)
        return None
    return DecodeStep(model)

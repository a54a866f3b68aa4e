"""A whole one-row decode step in one native call: the AVX2 path's fast path.

Profiled on a 2-core AMD EPYC (AVX2 only, float32 model, 300 cached tokens), a SmolLM2
step through `decode_step.DecodeStep` ran about 1,000 torch ops and 150 native calls:
the per-op Python and dispatch cost (2-5 us each, plus rms_norm's 40 us on torch's AVX2
kernels) took more of the step than reading the weights. `native_step_avx2.c` runs the
30 layers in one call, with the int4 and attention kernels' own code linked in; Python
keeps the embedding row, the rotary cos/sin, the cache bookkeeping and the head.

It runs where its arithmetic is the torch path's: one row, float32, every matrix of the
layers in the AVX2 int4 layout, q/k/v and gate/up fused, no bias, a growing cache
(kv_cache.GrowingLayer), no padding mask, head size 64 or 128. Anywhere else (and on the
AVX-512 path, whose bfloat16 model this does not take) `NativeStep.build` returns None
and the caller keeps the torch path; a call returns None when the kernel was turned off
or the cache cannot take the write, and the caller runs the torch path for that step.
tests/llm/test_native_step.py compares both paths' logits and greedy tokens.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from assistant.llm import native_attention, native_int4
from assistant.llm.int4_decode import Int4DecodeLinear, stacked_native
from assistant.llm.kv_cache import GrowingLayer
from assistant.llm.native_build import AVX2, NativeKernel, Variant
from assistant.llm.split_softmax import SplitSpec

SOURCE = Path(__file__).with_name("native_step_avx2.c")
VARIANTS = [
    Variant(
        "avx2", SOURCE, frozenset({"avx2", "fma", "f16c"}), AVX2,
        extra=(native_int4.SOURCE_AVX2, native_attention.SOURCE_AVX2),
    )
]  # fmt: skip
_P, _I, _L, _F, _D = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float, ctypes.c_double
ARGTYPES = [
    _P, _I, _L, _L, _I, _I, _I, _F,  # layers, n_layers, hidden, inter, heads, kv_heads, d, scale
    _P, _P, _L, _P, _P,  # h, rooms, filled, cos, sin
    _P, _P, _F,  # split, span, kexp
    _P, _D, _P,  # final_norm, final_eps, x_out
]  # fmt: skip


def _int4_is_avx2() -> str | None:
    """The step takes the AVX2 int4 layout and float32 rows: of no use beside another kernel."""
    if native_int4.KERNEL.function() is None:
        return f"no native int4 kernel ({native_int4.KERNEL.status()})"
    if native_int4.KERNEL.isa != "avx2":
        return f"the {native_int4.KERNEL.isa} int4 kernel runs (bfloat16 model): per-op steps"
    return None


KERNEL = NativeKernel("decode_step", ARGTYPES, VARIANTS, requires=_int4_is_avx2)


class _Matrix(ctypes.Structure):
    _fields_ = [
        ("codes", ctypes.c_void_p),
        ("scales", ctypes.c_void_p),
        ("zeros", ctypes.c_void_p),
        ("bits", ctypes.c_int64),
        ("out_features", ctypes.c_int64),
    ]


class _Layer(ctypes.Structure):  # as `Layer` in native_step_avx2.c
    _fields_ = [
        ("norm1", ctypes.c_void_p),
        ("norm2", ctypes.c_void_p),
        ("eps1", ctypes.c_double),
        ("eps2", ctypes.c_double),
        ("qkv", _Matrix),
        ("o", _Matrix),
        ("gate_up", _Matrix),
        ("down", _Matrix),
    ]


def _matrix(grid: native_int4.PackedGrid | None, k: int) -> _Matrix | None:
    if grid is None or grid.isa != "avx2" or grid.in_features != k:
        return None
    return _Matrix(*grid.pointers, grid.bits, grid.out_features)


def _native_grid(module: torch.nn.Module) -> native_int4.PackedGrid | None:
    if not isinstance(module, Int4DecodeLinear) or module.bias is not None:
        return None
    return module.native


class NativeStep:
    """Logits (1, V) for one new token after the cached ones, the layers in one native call."""

    def __init__(
        self, model: Any, layers: list[_Layer], keep: list[Any], head: Callable[[torch.Tensor], Any]
    ) -> None:
        config, inner = model.config, model.model
        attn = inner.layers[0].self_attn
        self.heads, self.kv_heads = int(config.num_attention_heads), int(config.num_key_value_heads)
        self.head_dim = int(attn.head_dim)
        self.scale = float(attn.scaling)
        self.hidden = int(config.hidden_size)
        self.inter = int(config.intermediate_size)
        self.layers = (_Layer * len(layers))(*layers)
        self.n_layers = len(layers)
        self._keep = keep  # the tensors whose addresses the structs hold
        self.embed = inner.embed_tokens.weight
        self.rotary = inner.rotary_emb
        self.final_norm = inner.norm.weight
        self.final_eps = float(inner.norm.variance_epsilon)
        self.head = head

    @classmethod
    def build(cls, model: Any, head: Callable[[torch.Tensor], Any]) -> NativeStep | None:
        """The native step for `model` (checked by decode_step.unsupported_reason already), or None."""
        if KERNEL.function() is None or native_int4.KERNEL.isa != "avx2":
            return None
        config, inner = model.config, model.model
        heads, kv_heads = int(config.num_attention_heads), int(config.num_key_value_heads)
        d = int(inner.layers[0].self_attn.head_dim)
        scale = float(inner.layers[0].self_attn.scaling)
        hidden, inter = int(config.hidden_size), int(config.intermediate_size)
        if (
            d not in native_attention.HEAD_DIMS or heads % kv_heads
            or heads // kv_heads > native_attention.MAX_REP
            or inner.embed_tokens.weight.dtype != torch.float32
        ):  # fmt: skip
            return None
        layers, keep = [], []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            norms = (layer.input_layernorm.weight, layer.post_attention_layernorm.weight)
            if any(n.dtype != torch.float32 or not n.is_contiguous() for n in norms):
                return None
            if int(attn.head_dim) != d or float(attn.scaling) != scale:
                return None
            qkv = stacked_native([attn.q_proj, attn.k_proj, attn.v_proj])
            gate_up = stacked_native([mlp.gate_proj, mlp.up_proj])
            parts = (
                _matrix(qkv, hidden),
                _matrix(_native_grid(attn.o_proj), heads * d),
                _matrix(gate_up, hidden),
                _matrix(_native_grid(mlp.down_proj), inter),
            )
            if any(p is None for p in parts) or parts[0].out_features != (heads + 2 * kv_heads) * d:  # type: ignore[union-attr]
                return None
            if parts[2].out_features != 2 * inter or parts[3].out_features != hidden:  # type: ignore[union-attr]
                return None
            keep += [qkv, gate_up, attn.o_proj.native, mlp.down_proj.native, *norms]
            layers.append(
                _Layer(
                    norms[0].data_ptr(), norms[1].data_ptr(),
                    float(layer.input_layernorm.variance_epsilon),
                    float(layer.post_attention_layernorm.variance_epsilon), *parts,
                )
            )  # fmt: skip
        return cls(model, layers, keep, head)

    def _split(self, spec: SplitSpec | None) -> tuple[Any, Any, float]:
        """Per-layer split flags, the span and k for `spec` (kept on the spec: it lives a request)."""
        if spec is None or spec.starts.numel() != 1:
            return None, None, 1.0
        found = spec._masks.get("native_step")
        if found is None:
            flags = torch.tensor(
                [spec.applies_to(i) for i in range(self.n_layers)], dtype=torch.uint8
            )
            span = torch.tensor([spec.lo, spec.hi], dtype=torch.int64)
            kexp = spec.kernel_exponent  # negative: InstABoost's factor
            assert kexp is not None  # __call__ sends such specs to the torch step
            found = spec._masks["native_step"] = (flags, span, float(kexp))
        return found  # type: ignore[no-any-return]

    def __call__(
        self,
        input_ids: torch.Tensor,
        cache: Any,
        position_ids: torch.Tensor | None,
        spec: SplitSpec | None,
    ) -> torch.Tensor | None:
        """Float logits (1, V), or None where this step must take the torch path."""
        function = KERNEL.function()
        if function is None or native_int4.KERNEL.function() is None:
            return None
        if spec is not None and (spec.starts.numel() != 1 or spec.kernel_exponent is None):
            return None
        layers = cache.layers
        if len(layers) != self.n_layers:
            return None
        filled = cache.get_seq_length()
        rooms: list[int] = []
        for layer in layers:
            if type(layer) is not GrowingLayer:
                return None
            room = layer.room_for(1)
            if room is None or room[0].dtype != torch.float32 or room[0].shape[0] != 1:
                return None
            if layer.keys is None or layer.keys.shape[-2] != filled:
                return None
            rooms += [room[0].data_ptr(), room[1].data_ptr(), room[0].shape[2]]
        pointers = torch.tensor(rooms, dtype=torch.int64)
        h = self.embed[int(input_ids[0, 0])].clone()  # (hidden,), written in place
        if position_ids is None:
            position_ids = torch.full((1, 1), filled, dtype=torch.long)
        cos, sin = self.rotary(h, position_ids)  # (1, 1, D)
        cos, sin = cos.contiguous(), sin.contiguous()
        flags, span, k = self._split(spec)
        x = torch.empty(1, self.hidden)
        rc = function(
            ctypes.addressof(self.layers), self.n_layers, self.hidden, self.inter,
            self.heads, self.kv_heads, self.head_dim, self.scale,
            h.data_ptr(), pointers.data_ptr(), filled, cos.data_ptr(), sin.data_ptr(),
            None if flags is None else flags.data_ptr(), None if span is None else span.data_ptr(), k,
            self.final_norm.data_ptr(), self.final_eps, x.data_ptr(),
        )  # fmt: skip
        if rc == 1:
            raise MemoryError("the native decode step could not allocate its buffers")
        if rc != 0:
            return None  # nothing was committed: the torch path runs this step
        for layer in layers:
            layer.advance(1)
        out: torch.Tensor = self.head(x)
        return out.float()

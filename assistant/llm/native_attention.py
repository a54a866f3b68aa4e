"""CPU attention (stock and split-softmax) through a small C kernel built on this machine.

torch's fused CPU attention costs about 40 us a layer for one new token of SmolLM2 (9
query heads, 300 keys), and the split form adds a second set of query rows and five
small torch ops to mix the two parts: about 80 us a layer, 9-12% of a decode step.
`native_attention.c` does either form in one pass over each query's keys and values
(about 22 us for both), so split-softmax costs what stock attention costs. Pre-fills gain
too: 8 rows of 97 new tokens take 3.5 ms a layer instead of 6.7, one 1052-token prompt
13.5 ms instead of 22.

The kernel is built on first use (`native_build.py`): `native_attention.c` on AVX-512
CPUs, `native_attention_avx2.c` (the same arithmetic in 8-float vectors) on AVX2 + FMA
ones. Where it cannot be (no compiler, no AVX2, not x86) or cannot take the inputs
(another dtype or head size), `attend` returns None and the caller keeps torch's kernel;
`KERNEL.status()` says why.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from assistant.llm.native_build import AVX2, NativeKernel, Variant

SOURCE = Path(__file__).with_name("native_attention.c")
SOURCE_AVX2 = Path(__file__).with_name("native_attention_avx2.c")
VARIANTS = [
    Variant("avx512", SOURCE, frozenset({"avx512f"})),
    Variant("avx2", SOURCE_AVX2, frozenset({"avx2", "fma", "f16c"}), AVX2),
]
DTYPES = {torch.bfloat16: 0, torch.float32: 1}
HEAD_DIMS = {64, 128}
MAX_REP = 16  # query heads per key/value head, as in the C source

_LONG, _PTR, _INT, _FLOAT = ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_float
ARGTYPES = [
    _INT, _PTR, _LONG, _LONG, _LONG,  # dtype, q, q strides (b, h, t)
    _PTR, _LONG, _LONG, _LONG,  # k, strides (b, h, row)
    _PTR, _LONG, _LONG, _LONG,  # v, strides (b, h, row)
    _PTR, _LONG, _LONG, _INT,  # visible, its strides (b, t), causal
    _PTR, _PTR,  # span starts, ends
    _PTR, _INT, _INT, _INT, _LONG, _LONG, _INT,  # out, B, H, Hkv, Tq, T, D
    _FLOAT, _FLOAT,  # scale, k
]  # fmt: skip
KERNEL = NativeKernel("attention", ARGTYPES, VARIANTS)


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    visible: torch.Tensor | None,
    scale: float,
    split: tuple[float, torch.Tensor, torch.Tensor] | None = None,
    causal: bool = True,
) -> torch.Tensor | None:
    """Attention output (B, H, Tq, D), contiguous; None when the kernel can't take the inputs.

    Args:
        query: (B, H, Tq, D); key, value: (B, Hkv, T, D), last dimensions contiguous.
        visible: bool (B|1, 1, Tq|1, T) keys each query may see, or None for all.
        split: (k, starts, ends) with (B,) long span bounds per row for split-softmax;
            None for stock attention. A negative k is InstABoost's factor -k on the
            span's weights (`SplitSpec.kernel_exponent`).
        causal: query i sits at key position T - Tq + i and sees no later key (the
            bottom-right alignment of a pre-fill after cached tokens).
    """
    if not query.is_cpu:
        return None
    function = KERNEL.function()
    if function is None:
        return None
    b, h, tq, d = query.shape
    hkv, t = key.shape[1], key.shape[2]
    code = DTYPES.get(query.dtype)
    if (
        code is None or d not in HEAD_DIMS or hkv == 0 or h % hkv or h // hkv > MAX_REP
        or key.dtype != query.dtype or value.dtype != query.dtype
        or key.shape != value.shape or key.shape[0] != b or key.shape[3] != d
        or query.stride(3) != 1 or key.stride(3) != 1 or value.stride(3) != 1
    ):  # fmt: skip
        return None
    vis_ptr, vis_b, vis_t = None, 0, 0
    if visible is not None:
        if (
            visible.dtype != torch.bool or visible.dim() != 4 or visible.shape[1] != 1
            or visible.shape[0] not in (1, b) or visible.shape[2] not in (1, tq)
            or visible.shape[3] != t or visible.stride(3) != 1
        ):  # fmt: skip
            return None
        vis_ptr = visible.data_ptr()
        vis_b = visible.stride(0) if visible.shape[0] == b else 0
        vis_t = visible.stride(2) if visible.shape[2] == tq else 0
    starts_ptr = ends_ptr = None
    k = 1.0
    if split is not None:
        k, starts, ends = split
        if starts.dtype != torch.long or ends.dtype != torch.long or starts.numel() != b:
            return None
        starts, ends = starts.contiguous(), ends.contiguous()
        starts_ptr, ends_ptr = starts.data_ptr(), ends.data_ptr()
    out = torch.empty(b, h, tq, d, dtype=query.dtype)
    rc = function(
        code, query.data_ptr(), query.stride(0), query.stride(1), query.stride(2),
        key.data_ptr(), key.stride(0), key.stride(1), key.stride(2),
        value.data_ptr(), value.stride(0), value.stride(1), value.stride(2),
        vis_ptr, vis_b, vis_t, int(causal), starts_ptr, ends_ptr,
        out.data_ptr(), b, h, hkv, tq, t, d, scale, k,
    )  # fmt: skip
    if rc != 0:
        raise MemoryError("native attention could not allocate its score buffer")
    return out

"""Few-row multiplies by 4-bit grid weights through a C kernel built on this machine.

torch's int4 kernel costs 2.5x more for 8 rows than for one on SmolLM2's matrices (12.1
vs 4.9 ms for all 210), though it reads the same weight bytes. `native_int4.c` widens each
group of codes to bfloat16 once and multiplies it into every row with the CPU's bf16
dot-product instruction: 8.6 ms for 8 rows, 4.7 for one. The 8-bit head, as two planes:
2.3 ms for one row (torch's planes 3.4), 6.1 ms for 8 (dense 7.7). In the engine, paired
step by step, an 8-row decode step takes 21% less time, a one-row step 1-2% less.

The weights are the same grid as torch's planes: (c - 8) * scale + zero per block of 32.
`pack` lays the codes out for the kernel; `multiply` returns None where the kernel is off,
was not built (no compiler, no AVX-512 BF16) or cannot take the input, and the caller
keeps torch's kernel.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from assistant.llm.native_build import NativeKernel

SOURCE = Path(__file__).with_name("native_int4.c")
MAX_ROWS = 12  # as in the C source
GROUP = 32  # weights per scale and zero

_PTR, _LONG, _INT = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
KERNEL = NativeKernel(
    SOURCE, "grid_matmul", [_INT, _PTR, _PTR, _PTR, _PTR, _PTR, _INT, _LONG, _LONG, _LONG]
)


@dataclass(frozen=True)
class PackedGrid:
    """One matrix laid out for the kernel (see native_int4.c)."""

    codes: torch.Tensor  # uint8 (N/16, K/2, 16) for 4 bits; (N/16, K/2, 16, 2) for 8
    scales: torch.Tensor  # float32 (N/16, K/32, 16)
    zeros: torch.Tensor  # float32 (N/16, K/32, 16)
    out_features: int
    in_features: int
    bits: int = 4
    pointers: tuple[int, int, int] = field(init=False)  # read once: calls are per token

    def __post_init__(self) -> None:
        ptrs = (self.codes.data_ptr(), self.scales.data_ptr(), self.zeros.data_ptr())
        object.__setattr__(self, "pointers", ptrs)


def _fits(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> bool:
    n, k = codes.shape
    return not (n % 16 or k % GROUP or scale.shape != (n, k // GROUP) or zero.shape != scale.shape)


def _per_lane(values: torch.Tensor) -> torch.Tensor:
    """(N, K/32) per-block values as (N/16, K/32, 16): 16 output lanes side by side."""
    n, groups = values.shape
    return values.float().reshape(n // 16, 16, groups).permute(0, 2, 1).contiguous()


def pack(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> PackedGrid | None:
    """Lay out 4-bit codes (N, K) in 0..15, weight = (c - 8) * scale + zero per block of 32.

    None when the shape does not fit (N a multiple of 16, K of 32).
    """
    if not _fits(codes, scale, zero):
        return None
    n, k = codes.shape
    pairs = codes.to(torch.uint8).reshape(n // 16, 16, k // 2, 2)  # block, lane, pair, half
    packed = (pairs[..., 0] | (pairs[..., 1] << 4)).permute(0, 2, 1).contiguous()
    return PackedGrid(packed, _per_lane(scale), _per_lane(zero), n, k)


def pack8(codes: torch.Tensor, scale: torch.Tensor) -> PackedGrid | None:
    """Lay out 8-bit codes (N, K) in -127..127, weight = q * scale per block of 32 (Q8_0)."""
    zero = torch.zeros_like(scale)
    if not _fits(codes, scale, zero):
        return None
    n, k = codes.shape
    pairs = codes.to(torch.int8).reshape(n // 16, 16, k // 2, 2)  # block, lane, pair, half
    packed = pairs.permute(0, 2, 1, 3).contiguous().view(torch.uint8)  # block, pair, lane, half
    return PackedGrid(packed, _per_lane(scale), _per_lane(zero), n, k, bits=8)


def bind(planes: tuple[PackedGrid, ...]) -> Callable[[torch.Tensor], torch.Tensor | None]:
    """The multiply by the sum of `planes` as a function of x, everything per matrix read once.

    It returns (M, N) bfloat16 for x (M, K) bfloat16 contiguous, or None where the kernel
    is off or cannot take x. Several planes (an 8-bit matrix as q = 16 * hi + lo) add up in
    float32 and round to bfloat16 once: rounding each plane's product first lost enough of
    the head's logits to change the default model's greedy answers. A decode step calls
    this about 200 times, so the per-call work is kept to the checks the kernel's memory
    safety needs (7.1 us a call, 8.4 unbound; torch's kernel 4.8).
    """
    first = planes[0]
    n, k = first.out_features, first.in_features
    pointers = [(p.bits, *p.pointers) for p in planes]
    single = len(planes) == 1
    kernel, empty, bf16 = KERNEL, torch.empty, torch.bfloat16
    out_dtype = bf16 if single else torch.float32

    def run(x: torch.Tensor) -> torch.Tensor | None:
        function = kernel.function()
        rows = x.shape[0]
        if (
            function is None or x.dtype != bf16 or not x.is_contiguous() or x.dim() != 2
            or x.shape[1] != k or not 1 <= rows <= MAX_ROWS
        ):  # fmt: skip
            return None
        out = empty(rows, n, dtype=out_dtype)
        x_at, out_at = x.data_ptr(), out.data_ptr()
        if single:
            function(*pointers[0], x_at, out_at, 0, rows, n, k)
            return out
        for i, plane in enumerate(pointers):
            function(*plane, x_at, out_at, 2 if i else 1, rows, n, k)  # store, then add
        return out.to(bf16)

    return run


def multiply(x: torch.Tensor, planes: tuple[PackedGrid, ...]) -> torch.Tensor | None:
    """x (M, K) bfloat16 contiguous times the sum of the planes: (M, N) bfloat16, or None."""
    return bind(planes)(x)

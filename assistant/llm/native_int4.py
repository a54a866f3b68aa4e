"""Few-row multiplies by 4- and 8-bit grid weights through a C kernel built on this machine.

torch's int4 kernel costs 2.5x more for 8 rows than for one on SmolLM2's matrices (12.1
vs 4.9 ms for all 210), though it reads the same weight bytes. `native_int4.c` widens each
group of codes to bfloat16 once and multiplies it into every row with the CPU's bf16
dot-product instruction: 8.6 ms for 8 rows, 4.7 for one. The 8-bit head is read once as
int8: 1.4 ms for one row (torch's two 4-bit planes 2.3), 2.9 ms for 8 (dense 5.9). In the
engine, paired step by step: 8-row steps 1.42x as fast, one-row steps 1.13x.

The weights are the GGUF grid: (c - 8) * scale + zero per block of 32 for 4 bits (the
same as torch's planes), q * scale for 8. `pack`/`pack8` lay the codes out for the
kernel. `bind`/`multiply` return None where the kernel is off, was not built (no
compiler, no AVX-512 BF16) or cannot take the input, and the caller keeps torch's kernel.
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
    SOURCE, "grid_matmul", [_INT, _PTR, _PTR, _PTR, _PTR, _PTR, _LONG, _LONG, _LONG]
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


def bind(packed: PackedGrid) -> Callable[[torch.Tensor], torch.Tensor | None]:
    """The multiply by `packed` as a function of x, everything per matrix read once.

    It returns (M, N) bfloat16 for x (M, K) bfloat16 contiguous, or None where the kernel
    is off or cannot take x. A decode step calls this about 200 times, so the per-call
    work is kept to the checks the kernel's memory safety needs (7.1 us a call, 8.4
    unbound; torch's kernel 4.8).
    """
    n, k, bits = packed.out_features, packed.in_features, packed.bits
    codes, scales, zeros = packed.pointers
    kernel, empty, bf16 = KERNEL, torch.empty, torch.bfloat16

    def run(x: torch.Tensor) -> torch.Tensor | None:
        function = kernel.function()
        rows = x.shape[0]
        if (
            function is None or x.dtype != bf16 or not x.is_contiguous() or x.dim() != 2
            or x.shape[1] != k or not 1 <= rows <= MAX_ROWS
        ):  # fmt: skip
            return None
        out = empty(rows, n, dtype=bf16)
        function(bits, codes, scales, zeros, x.data_ptr(), out.data_ptr(), rows, n, k)
        return out

    return run


def multiply(x: torch.Tensor, packed: PackedGrid) -> torch.Tensor | None:
    """x (M, K) bfloat16 contiguous times the packed matrix: (M, N) bfloat16, or None."""
    return bind(packed)(x)

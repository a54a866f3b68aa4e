"""Few-row multiplies by 4- and 8-bit grid weights through a C kernel built on this machine.

torch's int4 kernel costs 2.5x more for 8 rows than for one on SmolLM2's matrices (12.1
vs 4.9 ms for all 210), though it reads the same weight bytes. `native_int4.c` widens each
group of codes to bfloat16 once and multiplies it into every row with the CPU's bf16
dot-product instruction: 8.6 ms for 8 rows, 4.7 for one. The 8-bit head is read once as
int8: 1.4 ms for one row (torch's two 4-bit planes 2.3), 2.9 ms for 8 (dense 5.9). In the
engine, paired step by step: 8-row steps 1.42x as fast, one-row steps 1.13x.

On AVX2 CPUs without bf16 units the model runs in float32 and `native_int4_avx2.c` takes
float32 rows instead: it widens each block of codes to float32 and multiplies with FMAs,
with its own row-major layout (why not int8-rounded rows as llama.cpp does: see there).
`DTYPES` says which rows each source takes.

The weights are the GGUF grid: (c - 8) * scale + zero per block of 32 for 4 bits (the
same as torch's planes), q * scale for 8. `pack`/`pack8` lay the codes out for the
kernel in use (or the `isa` named). `bind`/`multiply` return None where the kernel is
off, was not built (no compiler, no AVX2, not x86), takes another layout or cannot take
the input, and the caller keeps torch's kernel (or the dense weights).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from assistant.llm.native_build import AVX2, NativeKernel, Variant

SOURCE = Path(__file__).with_name("native_int4.c")
SOURCE_AVX2 = Path(__file__).with_name("native_int4_avx2.c")
VARIANTS = [
    Variant("avx512", SOURCE, frozenset({"avx512f", "avx512_bf16"})),
    Variant("avx2", SOURCE_AVX2, frozenset({"avx2", "fma", "f16c"}), AVX2),
]
DTYPES = {"avx512": torch.bfloat16, "avx2": torch.float32}  # the rows (and output) each takes
MAX_ROWS = 12  # as in the C sources
GROUP = 32  # weights per scale and zero

_PTR, _LONG, _INT = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
ARGTYPES = [_INT, _PTR, _PTR, _PTR, _PTR, _PTR, _LONG, _LONG, _LONG]
KERNEL = NativeKernel("grid_matmul", ARGTYPES, VARIANTS)


def dtype() -> torch.dtype | None:
    """The dtype of the rows the kernel in use takes, or None when none is in use."""
    return DTYPES.get(KERNEL.isa or "") if KERNEL.function() is not None else None


@dataclass(frozen=True)
class PackedGrid:
    """One matrix laid out for the kernel (see native_int4.c)."""

    codes: torch.Tensor  # uint8 (N/16, K/2, 16) for 4 bits; (N/16, K/2, 16, 2) for 8
    scales: torch.Tensor  # float32 (N/16, K/32, 16)
    zeros: torch.Tensor  # float32 (N/16, K/32, 16)
    out_features: int
    in_features: int
    bits: int = 4
    isa: str = "avx512"  # the source whose layout this is
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


def pack(
    codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, isa: str | None = None
) -> PackedGrid | None:
    """Lay out 4-bit codes (N, K) in 0..15, weight = (c - 8) * scale + zero per block of 32.

    For the kernel `isa` ("avx512", "avx2"; default: the one in use). None when the shape
    does not fit (N a multiple of 16, K of 32).
    """
    if not _fits(codes, scale, zero):
        return None
    n, k = codes.shape
    if (isa or KERNEL.isa) == "avx2":  # (N, K/32, 16): k and k + 16 share a byte
        blocks = codes.to(torch.uint8).reshape(n, k // GROUP, 2, 16)
        packed = (blocks[:, :, 0] | (blocks[:, :, 1] << 4)).contiguous()
        scale32 = scale.float().contiguous()
        zero32 = (zero.float() - 8 * scale32).contiguous()  # c * scale + zero: one term less
        return PackedGrid(packed, scale32, zero32, n, k, isa="avx2")
    pairs = codes.to(torch.uint8).reshape(n // 16, 16, k // 2, 2)  # block, lane, pair, half
    packed = (pairs[..., 0] | (pairs[..., 1] << 4)).permute(0, 2, 1).contiguous()
    return PackedGrid(packed, _per_lane(scale), _per_lane(zero), n, k)


def pack8(codes: torch.Tensor, scale: torch.Tensor, isa: str | None = None) -> PackedGrid | None:
    """Lay out 8-bit codes (N, K) in -127..127, weight = q * scale per block of 32 (Q8_0)."""
    zero = torch.zeros_like(scale)
    if not _fits(codes, scale, zero):
        return None
    n, k = codes.shape
    if (isa or KERNEL.isa) == "avx2":  # row-major int8
        packed = codes.to(torch.int8).contiguous().view(torch.uint8)
        return PackedGrid(
            packed, scale.float().contiguous(), zero.float(), n, k, bits=8, isa="avx2"
        )
    pairs = codes.to(torch.int8).reshape(n // 16, 16, k // 2, 2)  # block, lane, pair, half
    packed = pairs.permute(0, 2, 1, 3).contiguous().view(torch.uint8)  # block, pair, lane, half
    return PackedGrid(packed, _per_lane(scale), _per_lane(zero), n, k, bits=8)


def bind(packed: PackedGrid) -> Callable[[torch.Tensor], torch.Tensor | None]:
    """The multiply by `packed` as a function of x, everything per matrix read once.

    It returns (M, N) for x (M, K) contiguous in the kernel's dtype (bfloat16 for the
    AVX-512 source, float32 for AVX2), or None where the kernel is off, was built for
    another layout, or cannot take x. A decode step calls this about 200 times, so the per-call
    work is kept to the checks the kernel's memory safety needs (7.1 us a call, 8.4
    unbound; torch's kernel 4.8).
    """
    n, k, bits = packed.out_features, packed.in_features, packed.bits
    codes, scales, zeros = packed.pointers
    kernel, empty, isa, wanted = KERNEL, torch.empty, packed.isa, DTYPES[packed.isa]

    # _keep: the kernel reads the tensors behind these addresses; they live as long as run.
    def run(x: torch.Tensor, _keep: PackedGrid = packed) -> torch.Tensor | None:
        function = kernel.function()
        rows = x.shape[0]
        if (
            function is None or x.dtype != wanted or not x.is_contiguous() or x.dim() != 2
            or x.shape[1] != k or not 1 <= rows <= MAX_ROWS or kernel.isa != isa
        ):  # fmt: skip
            return None
        out = empty(rows, n, dtype=wanted)
        if function(bits, codes, scales, zeros, x.data_ptr(), out.data_ptr(), rows, n, k):
            raise MemoryError("the native int4 kernel could not allocate its buffers")
        return out

    return run


def multiply(x: torch.Tensor, packed: PackedGrid) -> torch.Tensor | None:
    """x (M, K) contiguous times the packed matrix: (M, N) in x's dtype, or None."""
    return bind(packed)(x)

"""Packed 4-bit weights for decode steps: the GGUF's own quantisation grid, run by torch's int4 kernel.

A decode step multiplies one token per row by every weight matrix, so its speed is set
by the weight bytes read: dense bfloat16 reads 2 bytes per weight, torch's int4 kernel
(`_weight_int4pack_mm_for_cpu`) half a byte, but its arithmetic grows with the rows.
Measured on SmolLM2's matrices with the weights out of cache, as they are in a model
step (a matrix timed over and over sits in cache and hides the difference): one row
int4 is 3.8-4.6x faster, 8 rows 1.5-2.2x, 16 rows 1.0-1.4x; the 8-bit head (two
planes) 2.2x at 1 row, 1.5x at 4, 0.8x at 5. `ROW_LIMITS` keeps each kernel where it
wins; pre-fills (hundreds of rows) use the dense weights. Where the native kernel
(native_int4.py) is built, the same planes also run through it, which costs much less
per extra row (`NATIVE_ROW_LIMITS`); torch's kernel remains the fallback.

Nothing is approximated. A GGUF model stores each block of 32 weights on a grid:
Q4_0/Q4_1 as `d * q + m` with q in 0..15 (the block's minimum at q = 0, its maximum at
q = 15), Q8_0 as `d * q` with q in -127..127 (the largest magnitude at 127). The dense
copy that transformers de-quantises keeps that grid, so re-quantising it with the same
rule gives back the file's codes:
- a 4-bit grid becomes one int4 plane (the kernel computes `(c - 8) * scale + zero`);
- an 8-bit grid becomes two int4 planes, q = 16 * hi + lo, multiplied and summed.
A matrix whose weights are not on either grid (any ordinary float model) stays dense: the
packed copy is kept only when it rebuilds the dense weights to bfloat16 rounding.

float32 models (what `model.dtype = auto` picks on CPUs without bf16 units) get no torch
planes (its int4 kernel's float32 path is slower than dense) but, where the AVX2 native
kernel is built, its layout of the same codes: decode steps then read 4-bit codes instead
of 4-byte floats. Turned off at run time, those layers multiply densely.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from assistant.llm import native_int4

log = logging.getLogger(__name__)

GROUP = 32  # weights per block (one scale and offset): the GGUF Q4_0/Q4_1/Q8_0 block size
# Rows (tokens x batch) up to which the packed planes beat dense bfloat16, by plane count.
ROW_LIMITS = {1: 12, 2: 4}
# The same for the native kernel (native_int4.py), measured the same way: 4-bit codes beat
# torch's kernel at every row count up to its limit (8 rows: 8.6 vs 12.1 ms for SmolLM2's
# 210 matrices); the 8-bit head, read once as int8, beats everything up to 12 rows (1 row
# 1.4 ms vs 2.3 for torch's two planes; 8 rows 2.9 vs 5.9 dense; 12 rows 3.6 vs 7.2).
NATIVE_ROW_LIMITS = {1: 12, 2: 12}
# Relative error (RMS of rebuilt - dense over RMS of dense) under which a packed copy
# counts as the same weights: bfloat16 rounding gives ~0.001; re-quantising weights that
# are not on the grid gives ~0.1 (4-bit) or ~0.014 (8-bit).
SAME_WEIGHTS = 0.005
Planes = list[tuple[torch.Tensor, torch.Tensor]]  # (packed codes, scales_zeros (K/G, N, 2))
Grid = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # codes (N, K/G, G), scale, zero (N, K/G)


@dataclass(frozen=True)
class DecodeWeightsReport:
    """What `pack_for_decode` did."""

    int4: int  # matrices on a 4-bit grid (one plane)
    int8: int  # matrices on an 8-bit grid (two planes)
    dense: int  # matrices left dense (not on a grid, or unsupported shape/dtype)
    max_rel_error: float  # largest relative error of a packed copy kept


class Int4DecodeLinear(torch.nn.Linear):
    """A Linear that multiplies few-row inputs with packed int4 planes, the rest densely.

    The planes live in non-persistent buffers, so saving the model never writes them.
    """

    planes: int  # 1 for a 4-bit grid, 2 for an 8-bit one (torch's kernel: two int4 planes)
    max_rows: int  # wider inputs multiply densely (ROW_LIMITS, or NATIVE_ROW_LIMITS)
    native: native_int4.PackedGrid | None = None  # the same weights for the native kernel
    torch_planes: bool = True  # False: float32 weights, the native kernel or dense only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > self.max_rows or x.dtype != self.weight.dtype:
            return super().forward(x)
        flat = x.reshape(rows, self.in_features).contiguous()  # the kernel needs dense rows
        multiply = self.__dict__.get("_multiply")
        if multiply is None:  # bound once: binding looks up every plane
            multiply = self.__dict__["_multiply"] = self.bound_multiply()
        out = multiply(flat)  # (rows, out_features)
        return out.reshape(*x.shape[:-1], self.out_features)

    def bound_multiply(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The packed multiply of dense rows (rows, in) -> (rows, out), planes bound once.

        For callers that run the layer thousands of times (decode_step): no module
        attribute lookups per call, which `forward` pays four times.
        """
        bias, weight = self.bias, self.weight
        if not self.torch_planes:
            assert self.native is not None  # attached only with the native layout
            native_only = native_int4.bind(self.native)

            def native_or_dense(x: torch.Tensor) -> torch.Tensor:
                out = native_only(x)
                if out is None:  # the kernel was turned off
                    return torch.nn.functional.linear(x, weight, bias)
                return out if bias is None else out + bias

            return native_or_dense
        planes = [
            (getattr(self, f"packed_{i}"), getattr(self, f"scales_zeros_{i}"))
            for i in range(self.planes)
        ]
        (p0, s0), rest = planes[0], planes[1:]

        def torch_multiply(x: torch.Tensor) -> torch.Tensor:
            out = packed_mm(x, p0, GROUP, s0)
            for p, sz in rest:
                out = out + packed_mm(x, p, GROUP, sz)
            return out if bias is None else out + bias

        if self.native is None:
            if not rest and bias is None:
                return lambda x: packed_mm(x, p0, GROUP, s0)  # the common case, one call
            return torch_multiply
        native_multiply = native_int4.bind(self.native)
        torch_rows = ROW_LIMITS[self.planes]

        # The native kernel where it runs (it can be turned off at run time), else torch's.
        def native_first(x: torch.Tensor) -> torch.Tensor:
            out = native_multiply(x)
            if out is not None:
                return out if bias is None else out + bias
            if x.shape[0] > torch_rows:
                return torch.nn.functional.linear(x, weight, bias)
            return torch_multiply(x)

        return native_first


def fused_native(
    modules: list[torch.nn.Linear], rows: int
) -> Callable[[torch.Tensor], torch.Tensor | None] | None:
    """One native multiply for several layers that read the same input (q, k, v; gate,
    up): their layouts stacked along the outputs, so a step makes one call instead of
    three (each call costs its ctypes and OpenMP start-up, about 10 us).

    The layers' own layouts become views into the stacked one (no second copy). None
    when any layer has no native layout, they differ in bits, source or input size, one
    has a bias, or `rows` is past their row limit. The function returns None when the
    kernel cannot take x (turned off): the caller then runs the layers one by one.
    """
    if any(rows > getattr(m, "max_rows", 0) for m in modules):
        return None
    cached = modules[0].__dict__.get("_stacked") if modules else None
    if cached is not None and cached[0] == [id(m) for m in modules]:
        return native_int4.bind(cached[1])  # another batch width: the same stacked layout
    grids: list[native_int4.PackedGrid] = []
    for m in modules:
        if not isinstance(m, Int4DecodeLinear) or m.native is None or m.bias is not None:
            return None
        if rows > m.max_rows:
            return None
        grids.append(m.native)
    if not grids or len({(g.bits, g.isa, g.in_features) for g in grids}) != 1:
        return None
    first = grids[0]
    stacked = native_int4.PackedGrid(
        torch.cat([g.codes for g in grids]),
        torch.cat([g.scales for g in grids]),
        torch.cat([g.zeros for g in grids]),
        sum(g.out_features for g in grids),
        first.in_features,
        first.bits,
        first.isa,
    )
    start = 0
    for module, grid in zip(modules, grids, strict=True):
        end = start + grid.codes.shape[0]  # lane blocks (AVX-512) or rows (AVX2)
        module.native = native_int4.PackedGrid(  # type: ignore[assignment]
            stacked.codes[start:end], stacked.scales[start:end], stacked.zeros[start:end],
            grid.out_features, grid.in_features, grid.bits, grid.isa,
        )  # fmt: skip
        module.__dict__.pop("_multiply", None)
        start = end
    modules[0].__dict__["_stacked"] = ([id(m) for m in modules], stacked)
    return native_int4.bind(stacked)


def stacked_native(modules: list[torch.nn.Linear]) -> native_int4.PackedGrid | None:
    """The layers' native layouts stacked along the outputs (as `fused_native` runs them), or None."""
    if fused_native(modules, 1) is None:
        return None
    cached = modules[0].__dict__.get("_stacked")
    if cached is None or cached[0] != [id(m) for m in modules]:
        return None
    grid: native_int4.PackedGrid = cached[1]
    return grid


# The overloads themselves: calling them skips the op-packet lookup, which counts per token.
# Older torch builds (before 2.5) lack the CPU int4 kernel: everything then stays dense.
try:
    packed_mm = torch.ops.aten._weight_int4pack_mm_for_cpu.default
    _pack = torch.ops.aten._convert_weight_to_int4pack_for_cpu.default
    KERNEL = True
except AttributeError:  # pragma: no cover - depends on the installed torch
    KERNEL = False


def _plane(
    codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack codes (N, K) in 0..15 with per-block scale and zero (N, K/G) for the kernel."""
    scales_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous().to(dtype)
    return _pack(codes.to(torch.int32).contiguous(), 1), scales_zeros  # (K/G, N, 2)


def _rebuilt(codes: torch.Tensor, scales_zeros: torch.Tensor) -> torch.Tensor:
    """What the kernel will compute with: (codes - 8) * scale + zero, float32 (N, K/G, G)."""
    sz = scales_zeros.float().transpose(0, 1)  # (N, K/G, 2)
    return (codes.float() - 8) * sz[..., :1] + sz[..., 1:]


def _rel_error(rebuilt: torch.Tensor, dense: torch.Tensor) -> float:
    scale = dense.pow(2).mean().sqrt().clamp_min(1e-30)
    return float((rebuilt - dense).pow(2).mean().sqrt() / scale)


def four_bit_grid(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Min/max 4-bit codes (N, K/G, G) per block, with scale and zero (N, K/G): w = (c - 8) * scale + zero."""
    n, k = weight.shape
    dense = weight.float().reshape(n, k // GROUP, GROUP)
    low = dense.amin(-1, keepdim=True)  # (N, K/G, 1)
    step = (dense.amax(-1, keepdim=True) - low) / 15
    codes = ((dense - low) / torch.where(step > 0, step, 1.0)).round_().clamp_(0, 15)
    return codes, step[..., 0], (low + 8 * step)[..., 0]


def four_bit_planes(weight: torch.Tensor, grid: Grid | None = None) -> tuple[Planes, float]:
    """One plane from min/max 4-bit codes per block (`grid`, when already computed), and its relative error."""
    n, k = weight.shape
    codes, scale, zero = grid if grid is not None else four_bit_grid(weight)
    packed, sz = _plane(codes.reshape(n, k), scale, zero, weight.dtype)
    return [(packed, sz)], _rel_error(_rebuilt(codes, sz), weight.float().reshape(codes.shape))


def eight_bit_codes(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax 8-bit codes q (N, K/G, G) in -127..127 and the scale (N, K/G): w = q * scale."""
    n, k = weight.shape
    dense = weight.float().reshape(n, k // GROUP, GROUP)
    step = dense.abs().amax(-1, keepdim=True) / 127  # (N, K/G, 1)
    q = (dense / torch.where(step > 0, step, 1.0)).round_().clamp_(-127, 127)
    return q, step[..., 0]


def eight_bit_grid(weight: torch.Tensor) -> list[Grid]:
    """Absmax 8-bit codes per block as two 4-bit grids, q = 16 * hi + lo (hi plane first)."""
    q, s = eight_bit_codes(weight)
    hi = torch.div(q, 16, rounding_mode="floor")  # -8..7
    lo = q - 16 * hi  # 0..15
    # hi plane: 16 * step * hi = (c - 8) * 16 step with c = hi + 8; lo plane: step * lo = (c - 8) * step + 8 step.
    return [(hi + 8, 16 * s, torch.zeros_like(s)), (lo, s, 8 * s)]


def eight_bit_planes(weight: torch.Tensor) -> tuple[Planes, float]:
    """Two planes (q = 16 * hi + lo) from absmax 8-bit codes per block, and their relative error."""
    n, k = weight.shape
    planes, rebuilt = [], torch.zeros(n, k // GROUP, GROUP)
    for codes, scale, zero in eight_bit_grid(weight):
        packed, sz = _plane(codes.reshape(n, k), scale, zero, weight.dtype)
        planes.append((packed, sz))
        rebuilt += _rebuilt(codes, sz)
    return planes, _rel_error(rebuilt, weight.float().reshape(rebuilt.shape))


def _candidates(
    model: torch.nn.Module, dtypes: set[torch.dtype]
) -> Iterator[tuple[str, torch.nn.Linear]]:
    for name, module in model.named_modules():
        if (
            type(module) is torch.nn.Linear
            and module.in_features % GROUP == 0
            and module.out_features % 16 == 0  # the CPU packing works on 16 rows at a time
            and module.weight.device.type == "cpu"
            # float32 inputs take a slow path in torch's kernel (measured 10x slower than
            # dense): float32 weights only for the native AVX2 kernel
            and module.weight.dtype in dtypes
        ):
            yield name, module


def _attach(module: torch.nn.Linear, planes: Planes) -> None:
    module.__class__ = Int4DecodeLinear
    module.planes = len(planes)  # type: ignore[assignment]
    module.max_rows = ROW_LIMITS[len(planes)]  # type: ignore[assignment]
    for i, (packed, sz) in enumerate(planes):
        module.register_buffer(f"packed_{i}", packed, persistent=False)
        module.register_buffer(f"scales_zeros_{i}", sz, persistent=False)


NATIVE_PARTS = ("codes", "scales", "zeros")


def _attach_native(
    module: torch.nn.Linear,
    planes: int,
    name: str,
    stored: dict[str, torch.Tensor],
    fresh: dict[str, torch.Tensor],
    grid: Grid | None = None,
) -> None:
    """Lay the module's weights out for the native kernel too: 4-bit codes, or 8-bit ones
    in a single pass (half the reads of torch's two planes).

    Read from `stored` when an earlier start saved them; else computed from the dense
    weights (0.6-0.8 s for SmolLM2, once) and added to `fresh` to be saved.
    """
    weight = module.weight.detach()
    n, k = weight.shape
    bits = 4 if planes == 1 else 8
    isa = native_int4.KERNEL.isa or "avx512"
    tag = "" if isa == "avx512" else f"_{isa}"  # each source has its own layout
    keys = [f"{name}.native{bits}{tag}_{part}" for part in NATIVE_PARTS]
    packed: native_int4.PackedGrid | None
    if all(key in stored for key in keys):
        codes, scales, zeros = (stored[key] for key in keys)
        packed = native_int4.PackedGrid(codes, scales, zeros, n, k, bits, isa)
    else:
        if bits == 4:
            codes4, scale, zero = grid if grid is not None else four_bit_grid(weight)
            packed = native_int4.pack(codes4.reshape(n, k), scale, zero)
        else:
            q, scale = eight_bit_codes(weight)
            packed = native_int4.pack8(q.reshape(n, k), scale)
        if packed is not None:
            fresh.update(zip(keys, (packed.codes, packed.scales, packed.zeros), strict=True))
    if packed is not None:
        module.native = packed  # type: ignore[assignment]
        module.max_rows = NATIVE_ROW_LIMITS[planes]  # type: ignore[assignment]
        module.__dict__.pop("_multiply", None)  # forward binds again, with the native layout


def _native_only(
    module: torch.nn.Linear,
    name: str,
    stored: dict[str, torch.Tensor],
    fresh: dict[str, torch.Tensor],
) -> tuple[int, float]:
    """Attach only the native layout (float32 weights): returns (1 or 2, error) as the
    planes a bfloat16 copy would have, or (0, error) for weights on no grid (left dense)."""
    marker = f"{name}.native_planes"
    if marker in stored and f"{name}.rel_error" in stored:
        planes, error = int(stored[marker]), float(stored[f"{name}.rel_error"])
        grid = None
    else:
        weight = module.weight.detach()
        grid = four_bit_grid(weight)
        planes, error = 1, _rel_error(_rebuilt_grid(grid), weight.float().reshape(grid[0].shape))
        if error > SAME_WEIGHTS:
            q, scale = eight_bit_codes(weight)
            rebuilt = q * scale[..., None]
            planes, error = 2, _rel_error(rebuilt, weight.float().reshape(q.shape))
            if error > SAME_WEIGHTS:
                planes = 0
        fresh[marker], fresh[f"{name}.rel_error"] = torch.tensor(planes), torch.tensor(error)
    if planes:
        module.__class__ = Int4DecodeLinear
        module.planes = planes  # type: ignore[assignment]
        module.torch_planes = False  # type: ignore[assignment]
        _attach_native(module, planes, name, stored, fresh, grid)
        if module.native is None:  # the shape did not fit: back to a plain Linear
            module.__class__ = torch.nn.Linear
            return 0, error
    return planes, error


def _rebuilt_grid(grid: Grid) -> torch.Tensor:
    codes, scale, zero = grid
    return (codes - 8) * scale[..., None] + zero[..., None]


def pack_for_decode(
    model: torch.nn.Module, saved: Path | None = None, native: bool = False
) -> DecodeWeightsReport:
    """Give every Linear whose weights sit on a GGUF grid packed int4 planes for decode; in place.

    `saved`: a safetensors file of planes from an earlier start of the same model; read
    when present and whole, written after packing otherwise (best effort).
    `native`: also lay the planes out for the native kernel (native_int4.py) where it is
    built; saved in the same file.
    """
    from safetensors import safe_open

    stored: dict[str, torch.Tensor] = {}
    if saved is not None and saved.is_file():
        try:
            with safe_open(str(saved), "pt") as handle:
                # The packed layout belongs to the torch build that made it: repack after an upgrade.
                if (handle.metadata() or {}).get("torch") == torch.__version__:
                    stored = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as exc:  # a damaged file is rebuilt below
            log.warning(
                "packed decode weights in %s are unreadable (%s); packing again", saved, exc
            )
    counts = {1: 0, 2: 0}
    dense, worst = 0, 0.0
    fresh: dict[str, torch.Tensor] = {}
    dtypes = {torch.bfloat16} if KERNEL else set()
    native_dtype = native_int4.dtype() if native else None
    if native_dtype is not None:
        dtypes.add(native_dtype)
    for name, module in _candidates(model, dtypes):
        if module.weight.dtype != torch.bfloat16:  # the native kernel's float32 rows only
            planes_count, error = _native_only(module, name, stored, fresh)
            if not planes_count:
                dense += 1
                continue
            counts[planes_count] += 1
            worst = max(worst, error)
            continue
        found = _stored_planes(stored, name)
        grid = None  # the 4-bit grid, computed once for both layouts on a first start
        if found is None:
            grid = four_bit_grid(module.weight.detach())
            found = _pack_one(module.weight.detach(), grid)
            for i, (packed, sz) in enumerate(found[0]):
                fresh[f"{name}.packed_{i}"], fresh[f"{name}.scales_zeros_{i}"] = packed, sz
            fresh[f"{name}.planes"] = torch.tensor(len(found[0]))
            fresh[f"{name}.rel_error"] = torch.tensor(found[1])
        planes, error = found
        if not planes:
            dense += 1
            continue
        counts[len(planes)] += 1
        worst = max(worst, error)
        _attach(module, planes)
        if native_dtype == torch.bfloat16:  # the AVX-512 source takes bfloat16 rows
            _attach_native(module, len(planes), name, stored, fresh, grid)
    if saved is not None and fresh:
        _save({**stored, **fresh}, saved)
    return DecodeWeightsReport(counts[1], counts[2], dense, worst)


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write next to `path`, then swap in: a reader never sees half a file."""
    from safetensors.torch import save_file

    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata={"torch": torch.__version__})
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning(
            "could not save packed decode weights to %s (%s); next start packs again", path, exc
        )


def _stored_planes(stored: dict[str, torch.Tensor], name: str) -> tuple[Planes, float] | None:
    count, error = stored.get(f"{name}.planes"), stored.get(f"{name}.rel_error")
    if count is None or error is None:
        return None
    try:
        planes = [
            (stored[f"{name}.packed_{i}"], stored[f"{name}.scales_zeros_{i}"])
            for i in range(int(count))
        ]
    except KeyError:
        return None
    return planes, float(error)


def _pack_one(weight: torch.Tensor, grid: Grid | None = None) -> tuple[Planes, float]:
    """The cheapest exact packing of `weight` and its error; no planes when it is on no grid."""
    planes, error = four_bit_planes(weight, grid)
    if error <= SAME_WEIGHTS:
        return planes, error
    planes, error = eight_bit_planes(weight)
    if error <= SAME_WEIGHTS:
        return planes, error
    return [], error

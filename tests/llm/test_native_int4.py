"""The native 4-bit multiply against the dense grid weights and torch's int4 kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from assistant.llm import cpu_isa, native_int4
from assistant.llm.int4_decode import (
    GROUP,
    NATIVE_ROW_LIMITS,
    Int4DecodeLinear,
    four_bit_grid,
    pack_for_decode,
    packed_mm,
)
from assistant.llm.native_build import NativeKernel
from tests.llm.test_int4_decode import linear_with, q4_1_weight, q8_0_weight


@pytest.fixture(params=[v.isa for v in native_int4.VARIANTS])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each source the CPU can run (AVX-512 BF16 and AVX2 on the Xeons, AVX2 on AVX2-only
    CPUs) as the process's kernel; returns its name. Others skip, saying why."""
    variant = next(v for v in native_int4.VARIANTS if v.isa == request.param)
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    if not cpu_isa.is_x86() or not variant.fits():
        pytest.skip(
            f"the {variant.isa} kernel needs an x86 CPU with {', '.join(sorted(variant.needs))}"
        )
    chosen = NativeKernel("grid_matmul", native_int4.ARGTYPES, [variant])
    monkeypatch.setattr(native_int4, "KERNEL", chosen)
    assert chosen.configure(True) is None and chosen.isa == variant.isa
    return variant.isa


def packed(weight: torch.Tensor) -> native_int4.PackedGrid:
    n, k = weight.shape
    codes, scale, zero = four_bit_grid(weight)
    out = native_int4.pack(codes.reshape(n, k), scale, zero)
    assert out is not None
    return out


def within_rounding(got: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, isa: str) -> bool:
    """got == x @ weight.T up to what the kernel rounds.

    AVX-512: one bfloat16 rounding of the output. AVX2: float32 sums only (codes times x
    and the block offsets apart, so allow 1e-4 of sum |x| |w| per output).
    """
    exact = x.double() @ weight.double().T
    err = (got.double() - exact).abs()
    if isa == "avx512":
        return bool(err.max() <= 2**-8 * exact.abs().max())
    return bool((err <= 1e-4 * (x.double().abs() @ weight.double().abs().T)).all())


@pytest.mark.parametrize("rows", [1, 3, 8, 12])
def test_multiply_equals_the_dense_grid_weights(rows: int, kernel: str) -> None:
    """Every row count the kernel has a copy for, 48 outputs (3 blocks) over 4 groups."""
    dtype = native_int4.DTYPES[kernel]
    weight = q4_1_weight(48, 128, dtype, seed=rows)
    x = torch.randn(rows, 128).to(dtype)
    got = native_int4.multiply(x, packed(weight))
    assert got is not None and got.shape == (rows, 48) and got.dtype == dtype
    codes, scale, zero = four_bit_grid(weight)  # the grid the kernel multiplies by
    grid = (codes.double() - 8) * scale.double()[..., None] + zero.double()[..., None]
    assert within_rounding(got, x, grid.reshape(48, 128), kernel)


@pytest.mark.parametrize("rows", [1, 5, 12])
def test_8_bit_multiply_equals_the_exact_product(rows: int, kernel: str) -> None:
    torch.manual_seed(rows)
    dtype = native_int4.DTYPES[kernel]
    q = torch.randint(-127, 128, (32, 96))
    scale = torch.rand(32, 3) * 0.01 + 0.001
    x = torch.randn(rows, 96).to(dtype)
    packed8 = native_int4.pack8(q, scale)
    assert packed8 is not None and packed8.bits == 8
    got = native_int4.multiply(x, packed8)
    weight = q.double() * scale.double().repeat_interleave(32, dim=1)
    assert got is not None and within_rounding(got, x, weight, kernel)


def test_the_avx2_rounding_bound_can_fail() -> None:
    """The bound above is tight enough to catch a kernel that drops one block's zero term."""
    torch.manual_seed(0)
    x, weight = torch.randn(2, 64), q4_1_weight(16, 64, torch.float32)
    exact = x @ weight.T
    _, _, zero = four_bit_grid(weight)
    no_zero_term = exact - x[:, None, :32].sum(-1) * zero[None, :, 0]
    assert within_rounding(exact, x, weight, "avx2")
    assert not within_rounding(no_zero_term, x, weight, "avx2")


def test_it_declines_what_it_cannot_take(kernel: str) -> None:
    dtype = native_int4.DTYPES[kernel]
    other = torch.float32 if dtype == torch.bfloat16 else torch.bfloat16
    p = packed(q4_1_weight(32, 64, dtype))
    assert native_int4.multiply(torch.randn(13, 64).to(dtype), p) is None  # > 12 rows
    assert native_int4.multiply(torch.randn(2, 64).to(other), p) is None  # the other dtype
    assert native_int4.multiply(torch.randn(64, 2).to(dtype).T, p) is None  # strided
    codes = torch.zeros(24, 64)
    assert native_int4.pack(codes, torch.ones(24, 2), torch.zeros(24, 2)) is None  # 24 % 16


@pytest.mark.parametrize("isa", ["avx512", "avx2"])
def test_a_layout_for_the_other_source_is_declined(isa: str, kernel: str) -> None:
    """A saved layout of one source never reaches the other (their byte orders differ)."""
    weight = q4_1_weight(32, 64, native_int4.DTYPES[kernel])
    n, k = weight.shape
    codes, scale, zero = four_bit_grid(weight)
    p = native_int4.pack(codes.reshape(n, k), scale, zero, isa=isa)
    assert p is not None and p.isa == isa
    x = torch.randn(1, 64).to(native_int4.DTYPES[kernel])
    assert (native_int4.multiply(x, p) is None) == (isa != kernel)


@pytest.mark.usefixtures("kernel")
def test_decode_layers_use_it_and_fall_back_when_it_is_off() -> None:
    if native_int4.KERNEL.isa != "avx512":
        pytest.skip("torch's planes back the bfloat16 source; the float32 one falls back densely")
    weight = q4_1_weight(96, 128, torch.bfloat16)
    model = linear_with(weight)
    pack_for_decode(model, native=True)
    layer = model[0]
    assert isinstance(layer, Int4DecodeLinear) and layer.native is not None
    x = torch.randn(4, 128).to(torch.bfloat16)
    dense = (x.double() @ weight.double().T).float()
    multiply = layer.bound_multiply()
    with torch.inference_mode():
        native = multiply(x).float()
        native_int4.KERNEL.configure(False)
        try:
            torch_kernel = multiply(x).float()  # the same bound function, torch's planes now
        finally:
            native_int4.KERNEL.configure(True)
        expected_native = native_int4.multiply(x, layer.native)
        expected_torch = packed_mm(x, layer.packed_0, GROUP, layer.scales_zeros_0)
    assert expected_native is not None and torch.equal(native, expected_native.float())
    assert torch.equal(torch_kernel, expected_torch.float())
    tol = 0.02 * dense.abs().max().item()
    assert (native - dense).abs().max().item() <= tol
    assert (torch_kernel - dense).abs().max().item() <= tol


def test_layers_packed_without_native_keep_torchs_kernel() -> None:
    model = linear_with(q4_1_weight(96, 128, torch.bfloat16))
    pack_for_decode(model)  # native=False: what packed_decode uses when native kernels are off
    assert isinstance(model[0], Int4DecodeLinear) and model[0].native is None


def test_float32_layers_run_the_avx2_source_and_fall_back_densely(
    monkeypatch: pytest.MonkeyPatch, kernel: str
) -> None:
    """What `model.dtype = auto` gives on AVX2 CPUs: float32 weights, native-only packing."""
    if kernel != "avx2":
        pytest.skip("float32 rows are the AVX2 source's")
    weight = q4_1_weight(96, 128, torch.float32)
    model = linear_with(weight)
    report = pack_for_decode(model, native=True)
    layer = model[0]
    assert (report.int4, report.dense) == (1, 0)
    assert isinstance(layer, Int4DecodeLinear) and not layer.torch_planes
    assert layer.native is not None and layer.native.isa == "avx2"
    x = torch.randn(3, 128)
    with torch.inference_mode():
        native = model(x)
        assert within_rounding(native, x, weight, "avx2")
        native_int4.KERNEL.configure(False)
        try:
            assert torch.equal(layer.bound_multiply()(x), torch.nn.functional.linear(x, weight))
        finally:
            native_int4.KERNEL.configure(True)
    plain = linear_with(torch.randn(96, 128))  # not on a grid: stays a plain Linear
    assert pack_for_decode(plain, native=True).dense == 1 and type(plain[0]) is torch.nn.Linear


def test_the_8_bit_head_runs_natively_in_one_pass_up_to_12_rows(kernel: str) -> None:
    dtype = native_int4.DTYPES[kernel]
    weight = q8_0_weight(64, 128, dtype)
    model = linear_with(weight)
    pack_for_decode(model, native=True)
    layer = model[0]
    assert (
        isinstance(layer, Int4DecodeLinear) and layer.native is not None and layer.native.bits == 8
    )
    assert layer.max_rows == NATIVE_ROW_LIMITS[2] == 12  # torch's planes stop at 4
    x = torch.randn(12, 128).to(dtype)
    with torch.inference_mode():
        got = model(x)
    if kernel == "avx512":  # the grid rebuilds these weights to bf16 rounding
        exact = x.double() @ weight.double().T
        assert (got.double() - exact).abs().max().item() <= 2**-7 * exact.abs().max().item()
    else:
        assert within_rounding(got, x, weight, kernel)


def test_the_native_layout_is_saved_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str
) -> None:
    from safetensors import safe_open

    from assistant.llm import int4_decode

    dtype = native_int4.DTYPES[kernel]
    weight = q4_1_weight(96, 128, dtype)
    saved = tmp_path / "planes.safetensors"
    first = linear_with(weight)
    pack_for_decode(first, saved, native=True)
    tag = "" if kernel == "avx512" else f"_{kernel}"
    with safe_open(str(saved), "pt") as handle:
        assert {f"0.native4{tag}_{part}" for part in ("codes", "scales", "zeros")} <= set(
            handle.keys()
        )
    again = linear_with(weight)

    def no_recompute(weight: torch.Tensor) -> None:
        raise AssertionError("the saved layout should have been read")

    monkeypatch.setattr(int4_decode, "four_bit_grid", no_recompute)
    pack_for_decode(again, saved, native=True)
    a, b = first[0].native, again[0].native
    assert a is not None and b is not None
    assert torch.equal(a.codes, b.codes) and torch.equal(a.scales, b.scales)
    x = torch.randn(5, 128).to(dtype)
    with torch.inference_mode():
        assert torch.equal(first(x), again(x))


def test_layers_reading_one_input_multiply_in_one_call(kernel: str) -> None:
    """q, k and v (or gate and up) stacked: the same outputs as three calls, no second copy."""
    from assistant.llm.int4_decode import fused_native

    dtype = native_int4.DTYPES[kernel]
    layers = [linear_with(q4_1_weight(n, 128, dtype, seed=n)) for n in (64, 32, 32)]
    for model in layers:
        pack_for_decode(model, native=True)
    modules = [model[0] for model in layers]
    fused = fused_native(modules, rows=2)
    assert fused is not None
    x = torch.randn(2, 128).to(dtype)
    with torch.inference_mode():
        together = fused(x)
        apart = torch.cat([m.bound_multiply()(x) for m in modules], dim=-1)
    assert together is not None and torch.equal(together, apart)
    # each layer's own layout now points into the stacked one
    assert modules[1].native is not None and modules[0].native is not None
    assert (
        modules[1].native.codes.untyped_storage().data_ptr()
        == modules[0].native.codes.untyped_storage().data_ptr()
    )
    assert fused_native(modules, rows=13) is None  # past the row limit
    native_int4.KERNEL.configure(False)
    try:
        assert fused(x) is None  # turned off: the caller multiplies one by one
    finally:
        native_int4.KERNEL.configure(True)

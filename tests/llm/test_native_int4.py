"""The native 4-bit multiply against the dense grid weights and torch's int4 kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from assistant.llm import native_int4
from assistant.llm.int4_decode import (
    GROUP,
    NATIVE_ROW_LIMITS,
    Int4DecodeLinear,
    four_bit_grid,
    pack_for_decode,
    packed_mm,
)
from tests.llm.test_int4_decode import linear_with, q4_1_weight, q8_0_weight

CPU = Path("/proc/cpuinfo").read_text()
CAN_BUILD = shutil.which("gcc") is not None and "avx512_bf16" in CPU
needs_kernel = pytest.mark.skipif(not CAN_BUILD, reason="needs gcc and an AVX-512 BF16 CPU")


@pytest.fixture(autouse=True)
def kernel_on() -> None:
    native_int4.KERNEL.configure(True)


def packed(weight: torch.Tensor) -> native_int4.PackedGrid:
    n, k = weight.shape
    codes, scale, zero = four_bit_grid(weight)
    out = native_int4.pack(codes.reshape(n, k), scale, zero)
    assert out is not None
    return out


@needs_kernel
@pytest.mark.parametrize("rows", [1, 3, 8, 12])
def test_multiply_equals_the_dense_grid_weights(rows: int) -> None:
    """Every row count the kernel has a copy for, 48 outputs (3 blocks) over 4 groups."""
    weight = q4_1_weight(48, 128, torch.bfloat16, seed=rows)
    x = torch.randn(rows, 128).to(torch.bfloat16)
    got = native_int4.multiply(x, packed(weight))
    assert got is not None and got.shape == (rows, 48) and got.dtype == torch.bfloat16
    codes, scale, zero = four_bit_grid(weight)  # the grid the kernel multiplies by
    grid = ((codes.double() - 8) * scale.double()[..., None] + zero.double()[..., None])
    exact = x.double() @ grid.reshape(48, 128).T
    scale = exact.abs().max().item()
    assert (got.double() - exact).abs().max().item() <= 2**-8 * scale  # one bf16 rounding


@needs_kernel
@pytest.mark.parametrize("rows", [1, 5, 12])
def test_8_bit_multiply_equals_the_exact_product(rows: int) -> None:
    torch.manual_seed(rows)
    q = torch.randint(-127, 128, (32, 96))
    scale = torch.rand(32, 3) * 0.01 + 0.001
    x = torch.randn(rows, 96).to(torch.bfloat16)
    packed8 = native_int4.pack8(q, scale)
    assert packed8 is not None and packed8.bits == 8
    got = native_int4.multiply(x, packed8)
    weight = q.double() * scale.double().repeat_interleave(32, dim=1)
    exact = x.double() @ weight.T
    assert got is not None and (got.double() - exact).abs().max() <= 2**-8 * exact.abs().max()


@needs_kernel
def test_it_declines_what_it_cannot_take() -> None:
    p = packed(q4_1_weight(32, 64, torch.bfloat16))
    assert native_int4.multiply(torch.randn(13, 64).to(torch.bfloat16), p) is None  # > 12 rows
    assert native_int4.multiply(torch.randn(2, 64), p) is None  # float32
    assert native_int4.multiply(torch.randn(64, 2).to(torch.bfloat16).T, p) is None  # strided
    codes = torch.zeros(24, 64)
    assert native_int4.pack(codes, torch.ones(24, 2), torch.zeros(24, 2)) is None  # 24 % 16


@needs_kernel
def test_decode_layers_use_it_and_fall_back_when_it_is_off() -> None:
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


@needs_kernel
def test_the_8_bit_head_runs_natively_in_one_pass_up_to_12_rows() -> None:
    weight = q8_0_weight(64, 128, torch.bfloat16)
    model = linear_with(weight)
    pack_for_decode(model, native=True)
    layer = model[0]
    assert isinstance(layer, Int4DecodeLinear) and layer.native is not None and layer.native.bits == 8
    assert layer.max_rows == NATIVE_ROW_LIMITS[2] == 12  # torch's planes stop at 4
    x = torch.randn(12, 128).to(torch.bfloat16)
    exact = x.double() @ weight.double().T  # the grid rebuilds these weights to bf16 rounding
    with torch.inference_mode():
        got = model(x).double()
    assert (got - exact).abs().max().item() <= 2**-7 * exact.abs().max().item()


@needs_kernel
def test_the_native_layout_is_saved_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open

    from assistant.llm import int4_decode

    weight = q4_1_weight(96, 128, torch.bfloat16)
    saved = tmp_path / "planes.safetensors"
    first = linear_with(weight)
    pack_for_decode(first, saved, native=True)
    with safe_open(str(saved), "pt") as handle:
        assert {"0.native4_codes", "0.native4_scales", "0.native4_zeros"} <= set(handle.keys())
    again = linear_with(weight)

    def no_recompute(weight: torch.Tensor) -> None:
        raise AssertionError("the saved layout should have been read")

    monkeypatch.setattr(int4_decode, "four_bit_grid", no_recompute)
    pack_for_decode(again, saved, native=True)
    a, b = first[0].native, again[0].native
    assert a is not None and b is not None
    assert torch.equal(a.codes, b.codes) and torch.equal(a.scales, b.scales)
    x = torch.randn(5, 128).to(torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(first(x), again(x))

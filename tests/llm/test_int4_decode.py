"""Packed int4 decode weights: same outputs as the dense weights, only where they are on a grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from assistant.llm.int4_decode import (
    GROUP,
    ROW_LIMITS,
    Int4DecodeLinear,
    eight_bit_planes,
    four_bit_planes,
    pack_for_decode,
)


def q4_1_weight(n: int, k: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Weights as a Q4_1 GGUF stores them: d * q + m per block, min at q = 0, max at q = 15."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 16, (n, k // GROUP, GROUP), generator=g).float()
    codes[..., 0], codes[..., 1] = 0, 15  # the quantiser maps the block's extremes to 0 and 15
    d = torch.rand(n, k // GROUP, 1, generator=g) * 0.02 + 0.001
    m = -torch.rand(n, k // GROUP, 1, generator=g) * 0.1
    return (codes * d + m).reshape(n, k).to(dtype)


def q8_0_weight(n: int, k: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Weights as Q8_0 stores them: d * q per block with q in -127..127, the largest at 127."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(-127, 128, (n, k // GROUP, GROUP), generator=g).float()
    codes[..., 0] = 127
    d = torch.rand(n, k // GROUP, 1, generator=g) * 0.001 + 1e-4
    return (codes * d).reshape(n, k).to(dtype)


def linear_with(weight: torch.Tensor) -> torch.nn.Sequential:
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
    layer.weight.data.copy_(weight)
    return torch.nn.Sequential(layer).eval()


@pytest.mark.parametrize("make, planes", [(q4_1_weight, 1), (q8_0_weight, 2)])
def test_grid_weights_decode_packed_with_the_same_result(make, planes) -> None:  # type: ignore[no-untyped-def]
    dtype = torch.bfloat16
    weight = make(96, 128, dtype)
    model = linear_with(weight)
    x = torch.randn(3, 128).to(dtype)
    dense = model(x).float()
    report = pack_for_decode(model)
    assert (report.int4, report.int8, report.dense) == ((1, 0, 0) if planes == 1 else (0, 1, 0))
    assert isinstance(model[0], Int4DecodeLinear) and model[0].planes == planes
    with torch.inference_mode():
        packed = model(x).float()  # 3 rows: the int4 kernel
    tol = 0.02
    assert (packed - dense).abs().max().item() <= tol * dense.abs().max().item()
    strided = x.T.contiguous().T  # the same rows as a view with non-unit inner stride
    with torch.inference_mode():
        assert torch.equal(model(strided), model(x))
    wide = torch.randn(ROW_LIMITS[planes] + 1, 128).to(dtype)
    with torch.inference_mode():  # a pre-fill: the dense weights, bit for bit
        assert torch.equal(model(wide), torch.nn.functional.linear(wide, weight))


def test_ordinary_float_weights_stay_dense() -> None:
    weight = torch.randn(64, 128).bfloat16()
    model = linear_with(weight)
    report = pack_for_decode(model)
    assert (report.int4, report.int8, report.dense) == (0, 0, 1)
    assert type(model[0]) is torch.nn.Linear
    # Re-quantising them would change them: that is why they are left alone.
    assert four_bit_planes(weight)[1] > 0.05 and eight_bit_planes(weight)[1] > 0.005


def test_packed_planes_are_saved_and_a_damaged_file_is_rebuilt(tmp_path: Path) -> None:
    saved = tmp_path / "planes.safetensors"
    weight = q4_1_weight(64, 128, torch.bfloat16)
    x = torch.randn(1, 128).bfloat16()
    first = linear_with(weight)
    pack_for_decode(first, saved)
    assert saved.is_file()
    again = linear_with(weight)
    assert pack_for_decode(again, saved).int4 == 1  # read back from the file
    with torch.inference_mode():
        assert torch.equal(first(x), again(x))
    saved.write_bytes(b"not a safetensors file")
    rebuilt = linear_with(weight)
    assert pack_for_decode(rebuilt, saved).int4 == 1
    with torch.inference_mode():
        assert torch.equal(first(x), rebuilt(x))
    assert pack_for_decode(linear_with(weight), saved).int4 == 1  # the rewritten file reads
    assert list(tmp_path.iterdir()) == [saved]  # no temp files left behind


def test_saving_the_model_never_writes_the_packed_planes() -> None:
    model = linear_with(q4_1_weight(64, 128, torch.bfloat16))
    pack_for_decode(model)
    assert set(model.state_dict()) == {"0.weight"}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_default_model_decodes_packed_with_the_dense_models_logits(
    model_cache_dir: Path, dtype: str
) -> None:
    """bfloat16: torch's int4 planes (any x86 CPU) or the AVX-512 kernel. float32 (what
    `auto` picks without bf16 units): the AVX2 kernel, float32 FMAs on widened codes."""
    from transformers import DynamicCache

    from assistant.config import ModelSettings
    from assistant.llm import native_int4
    from assistant.llm.loader import load_model

    packed = load_model(ModelSettings(dtype=dtype), cache_dir=model_cache_dir)
    if dtype == "float32" and native_int4.dtype() != torch.float32:
        pytest.skip(
            f"float32 rows are packed by the AVX2 kernel only ({native_int4.KERNEL.status() or native_int4.KERNEL.isa} here)"
        )
    dense = load_model(ModelSettings(dtype=dtype, packed_decode="off"), cache_dir=model_cache_dir)
    assert packed.decode_weights.startswith("packed int4") and dense.decode_weights == "dense"
    assert "0 dense" in packed.decode_weights  # every matrix of the Q4_1/Q8_0 file is on its grid
    prompt = "The lighthouse keeper climbed the long spiral stairs at dusk, lit the great lamp and"
    ids = packed.tokenizer(prompt, return_tensors="pt")
    assert ids["input_ids"].shape[1] > ROW_LIMITS[1]  # a dense pre-fill: only the steps differ
    steps = []
    with torch.inference_mode():
        for loaded in (packed, dense):
            cache = DynamicCache(config=loaded.model.config)
            loaded.model(input_ids=ids["input_ids"], cache=cache)
            token = torch.tensor([[int(ids["input_ids"][0, -1])]])
            logits = []
            for _ in range(8):  # one-token steps: the packed path
                out = loaded.model(input_ids=token, cache=cache).logits[0, -1].float()
                logits.append(out)
                token = out.argmax().reshape(1, 1)
            steps.append(torch.stack(logits))
    assert torch.equal(steps[0].argmax(-1), steps[1].argmax(-1))
    spread = steps[1].std().item()
    assert (steps[0] - steps[1]).abs().max().item() < 0.1 * spread


def test_shapes_the_kernel_cannot_pack_stay_dense() -> None:
    model = linear_with(q4_1_weight(40, 128, torch.bfloat16))  # 40 rows: not a multiple of 16
    report = pack_for_decode(model)  # without the check the packing raises
    assert report.int4 == report.int8 == 0 and type(model[0]) is torch.nn.Linear


def test_float32_models_stay_dense() -> None:
    """The kernel's float32 path is about 10x slower than a dense float32 matmul."""
    model = linear_with(q4_1_weight(64, 128, torch.float32))
    assert pack_for_decode(model).int4 == 0 and type(model[0]) is torch.nn.Linear


def test_without_the_int4_kernel_everything_stays_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("assistant.llm.int4_decode.KERNEL", False)  # a torch older than 2.5
    model = linear_with(q4_1_weight(64, 128, torch.bfloat16))
    assert pack_for_decode(model).int4 == 0 and type(model[0]) is torch.nn.Linear

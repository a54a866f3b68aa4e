"""The native one-token attention kernel against the definition and torch's kernel."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from assistant.llm import cpu_isa, native_attention, native_build, split_softmax
from assistant.llm.decode_step import DecodeStep
from assistant.llm.native_build import NativeKernel
from assistant.llm.split_softmax import SplitSpec, reference_attention


@pytest.fixture(params=[v.isa for v in native_attention.VARIANTS])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> NativeKernel:
    """Each source the CPU can run (AVX-512 and AVX2 on the Xeons, AVX2 on AVX2-only CPUs),
    as the process's kernel; a test for one this CPU cannot run skips and says why."""
    variant = next(v for v in native_attention.VARIANTS if v.isa == request.param)
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    if not cpu_isa.is_x86() or not variant.fits():
        pytest.skip(
            f"the {variant.isa} kernel needs an x86 CPU with {', '.join(sorted(variant.needs))}"
        )
    chosen = NativeKernel("attention", native_attention.ARGTYPES, [variant])
    monkeypatch.setattr(native_attention, "KERNEL", chosen)
    assert chosen.configure(True) is None and chosen.isa == variant.isa
    return chosen


@pytest.fixture
def torch_kernel() -> Iterator[None]:
    """Run the body with the native kernel off (torch's kernel), then turn it back on."""
    native_attention.KERNEL.configure(False)
    try:
        yield
    finally:
        native_attention.KERNEL.configure(True)


def step_inputs(
    pads: list[int], t: int, d: int = 64, h: int = 9, hkv: int = 3, dtype: Any = torch.float32
) -> tuple[torch.Tensor, ...]:
    """A one-token step: query laid out as the decode step leaves it, cache, padding mask."""
    torch.manual_seed(3)
    b = len(pads)
    q = (torch.randn(b, 1, h, d) * 2).to(dtype).transpose(1, 2)  # (B, H, 1, D), strided
    k = (torch.randn(b, hkv, t, d) * 2).to(dtype)
    v = torch.randn(b, hkv, t, d).to(dtype)
    visible = (torch.arange(t)[None, :] >= torch.tensor(pads)[:, None])[:, None, None, :]
    return q, k, v, visible


def in_span(spans: list[tuple[int, int]], t: int) -> torch.Tensor:
    out = torch.zeros(len(spans), t, dtype=torch.bool)
    for row, (s, e) in enumerate(spans):
        out[row, s:e] = True
    return out


def test_kernel_builds_here_and_is_reused(tmp_path: Path, kernel: NativeKernel) -> None:
    compiler, variant = "gcc", kernel.variant
    assert variant is not None
    first = native_build.build(variant.source, compiler, tmp_path, variant.arch)
    stamp = first.stat().st_mtime_ns
    again = native_build.build(variant.source, compiler, tmp_path, variant.arch)
    assert again == first and again.stat().st_mtime_ns == stamp  # no second compile
    assert native_attention.KERNEL.configure(True) is None  # the process uses it


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("k", [0.3, 1.0])
def test_split_steps_match_the_definition(dtype: Any, d: int, k: float) -> None:
    """Per-row spans after left padding, a row without a span, one whose span is padded away.

    37 keys: the vector loops' 16-key blocks and their tails both run.
    """
    pads, spans = [0, 4, 1, 9, 0], [(0, 12), (5, 9), (3, 3), (2, 8), (30, 37)]
    t = 37
    q, key, v, visible = step_inputs(pads, t, d=d, dtype=dtype)
    spec = SplitSpec.from_spans(k, spans)
    out = native_attention.attend(q, key, v, visible, 0.125, (k, spec.starts, spec.ends))
    assert out is not None and out.dtype == dtype
    ref, _, _ = reference_attention(q, key, v, visible, in_span(spans, t), k, scale=0.125)
    tol = 1e-5 if dtype == torch.float32 else 2e-2  # bf16 output rounding (8 mantissa bits)
    assert (out.reshape(ref.shape).double() - ref).abs().max().item() < tol


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("pads", [[0], [0, 3, 7]])
def test_stock_steps_equal_torchs_kernel(dtype: Any, pads: list[int], torch_kernel: None) -> None:
    q, key, v, visible = step_inputs(pads, 300, dtype=dtype)
    mask = visible if any(pads) else None
    expected = split_softmax.stock_decode(q, key, v, mask, 0.125)  # torch's kernel (fixture)
    native_attention.KERNEL.configure(True)
    got = native_attention.attend(q, key, v, mask, 0.125)
    assert got is not None and got.shape == (len(pads), 9, 1, 64)
    tol = 1e-5 if dtype == torch.float32 else 8e-3  # one bf16 step at |x| < 2
    assert (got.reshape(expected.shape).float() - expected.float()).abs().max().item() <= tol


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("k", [0.3, 1.0])
def test_split_prefill_matches_the_definition(dtype: Any, k: float) -> None:
    """Many new tokens after cached ones: causal (bottom-right) and left padding per row."""
    torch.manual_seed(4)
    b, h, hkv, d, tq, t = 3, 6, 2, 64, 21, 30
    pads, spans = [0, 5, 2], [(0, 7), (6, 9), (4, 4)]
    q = (torch.randn(b, tq, h, d) * 2).to(dtype).transpose(1, 2)  # (B, H, Tq, D), strided
    key = (torch.randn(b, hkv, t, d) * 2).to(dtype)
    v = torch.randn(b, hkv, t, d).to(dtype)
    q_pos = torch.arange(tq)[:, None] + (t - tq)
    causal = torch.arange(t)[None, :] <= q_pos  # (Tq, T)
    not_pad = torch.arange(t)[None, :] >= torch.tensor(pads)[:, None]  # (B, T)
    visible = causal[None, None] & not_pad[:, None, None, :]  # (B, 1, Tq, T)
    spec = SplitSpec.from_spans(k, spans)
    out = native_attention.attend(q, key, v, visible, 0.125, (k, spec.starts, spec.ends))
    assert out is not None
    ref, _, _ = reference_attention(q, key, v, visible, in_span(spans, t), k, scale=0.125)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert (out.double() - ref).abs().max().item() < tol
    # No mask: causality alone (the bottom-right alignment) gives the unpadded rows' answer.
    first = (k, spec.starts[:1], spec.ends[:1])
    no_mask = native_attention.attend(q[:1], key[:1], v[:1], None, 0.125, first)
    assert no_mask is not None and torch.equal(no_mask, out[:1])


@pytest.mark.usefixtures("kernel")
def test_split_share_is_stable_when_the_system_share_is_tiny() -> None:
    pads, spans = [0], [(0, 4)]
    q, key, v, visible = step_inputs(pads, 40)
    key[:, :, :4] = 0.0  # scores on S are 0 while the others reach the hundreds
    q = q * 30
    spec = SplitSpec.from_spans(0.5, spans)
    out = native_attention.attend(q, key, v, None, 0.125, (0.5, spec.starts, spec.ends))
    ref, _, _ = reference_attention(q, key, v, visible, in_span(spans, 40), 0.5, scale=0.125)
    assert out is not None and torch.isfinite(out).all()
    assert (out.reshape(ref.shape).double() - ref).abs().max().item() < 1e-4


@pytest.mark.usefixtures("kernel")
def test_inputs_it_cannot_take_fall_back_to_torch() -> None:
    q, key, v, visible = step_inputs([0, 2], 20, d=32)
    assert native_attention.attend(q, key, v, visible, 0.2) is None  # head size 32
    q, key, v, visible = step_inputs([0, 2], 20, dtype=torch.float16)
    assert native_attention.attend(q, key, v, visible, 0.2) is None  # float16
    q, key, v, visible = step_inputs([0, 2], 20)
    additive = torch.zeros(visible.shape).masked_fill(~visible, float("-inf"))
    assert native_attention.attend(q, key, v, additive, 0.2) is None  # float mask
    # The callers still answer, through torch's kernel.
    assert split_softmax.stock_decode(q, key, v, additive, 0.2).shape == (2, 3, 3, 64)


def test_turned_off_means_torchs_kernel(torch_kernel: None) -> None:
    q, key, v, _ = step_inputs([0], 20)
    assert native_attention.attend(q, key, v, None, 0.2) is None
    assert native_attention.KERNEL.status() == "turned off (model.native_kernels = off)"
    assert split_softmax.stock_decode(q, key, v, None, 0.2).shape == (1, 3, 3, 64)


def test_a_failed_build_gives_one_reason_and_torchs_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = NativeKernel("attention", [], native_attention.VARIANTS)  # not built yet
    monkeypatch.setattr(native_attention, "KERNEL", fresh)
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("ASSISTANT_NATIVE_DIR", str(tmp_path))
    reason = native_attention.KERNEL.configure(True)
    assert reason == "false failed: exit status 1"
    q, key, v, _ = step_inputs([0], 20)
    assert native_attention.attend(q, key, v, None, 0.2) is None
    assert split_softmax.stock_decode(q, key, v, None, 0.2).shape == (1, 3, 3, 64)
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("pads", [[0], [0, 6, 3]])
def test_stock_prefill_through_the_model_equals_transformers_sdpa(pads: list[int]) -> None:
    model = wide_head_llama()
    ids = torch.randint(3, 250, (len(pads), 30))
    mask = torch.ones(len(pads), 30, dtype=torch.long)
    for row, pad in enumerate(pads):
        mask[row, :pad] = 0
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    logits = {}
    with torch.inference_mode():
        for impl in ("sdpa", split_softmax.IMPLEMENTATION):
            model.set_attn_implementation(impl)
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions)
            logits[impl] = out.logits.masked_fill(~mask.bool()[..., None], 0.0)
    assert (logits["sdpa"] - logits[split_softmax.IMPLEMENTATION]).abs().max().item() < 1e-4


def wide_head_llama() -> Any:
    """A tiny Llama with SmolLM2's head size (64), so its attention takes the kernel."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=256, hidden_size=256, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )  # fmt: skip
    config._attn_implementation = split_softmax.IMPLEMENTATION
    return LlamaForCausalLM(config).eval()


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("split", [False, True])
def test_decode_steps_with_the_kernel_follow_torchs(split: bool) -> None:
    """A model with 64-wide heads: its steps, with and without the kernel, pick the same tokens."""
    model = wide_head_llama()
    config = model.config
    step = DecodeStep(model)
    spec = SplitSpec.from_spans(0.5, [(0, 10)]) if split else None

    def generate() -> list[float]:
        cache = DynamicCache(config=config)
        ids = torch.arange(3, 40)[None]
        logits: list[float] = []
        with torch.inference_mode(), split_softmax.split_context(spec):
            nxt = model(input_ids=ids, cache=cache).logits[:, -1].argmax(-1, keepdim=True)
            for _ in range(6):
                out = step(nxt, cache)
                logits.append(out.max().item())
                nxt = out.argmax(-1, keepdim=True)
        return logits

    native_attention.KERNEL.configure(True)
    with_kernel = generate()
    native_attention.KERNEL.configure(False)
    try:
        with_torch = generate()
    finally:
        native_attention.KERNEL.configure(True)
    assert with_kernel == pytest.approx(with_torch, abs=1e-4)

"""The lean decode step against the model's own forward: same logits, same cache."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import (
    DynamicCache,
    GemmaConfig,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from assistant.llm.decode_step import decode_step_for, unsupported_reason
from assistant.llm.split_softmax import IMPLEMENTATION, SplitSpec, split_context
from tests.llm.conftest import TINY

FAMILIES: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "llama": (LlamaConfig, LlamaForCausalLM, {}),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, {}),  # q/k/v carry a bias
    "mistral": (MistralConfig, MistralForCausalLM, {"sliding_window": None}),
    # heads x head_dim (128) larger than the hidden size (64)
    "llama_wide_heads": (LlamaConfig, LlamaForCausalLM, {"head_dim": 32}),
}
TOL = 1e-5


def tiny(family: str, dtype: torch.dtype = torch.float32) -> Any:
    config_cls, model_cls, extra = FAMILIES[family]
    torch.manual_seed(0)
    model = model_cls(config_cls(**TINY, **extra)).eval().to(dtype)
    model.set_attn_implementation(IMPLEMENTATION)
    return model


def prompt(pads: list[int], length: int = 20) -> tuple[torch.Tensor, torch.Tensor | None]:
    torch.manual_seed(1)
    ids = torch.randint(3, 128, (len(pads), length))
    if not any(pads):
        return ids, None
    mask = torch.ones(len(pads), length, dtype=torch.long)
    for row, pad in enumerate(pads):
        mask[row, :pad] = 0
    return ids, mask


@torch.inference_mode()
def both_ways(
    model: Any, pads: list[int], spec: SplitSpec | None, steps: int = 4
) -> tuple[list[torch.Tensor], list[torch.Tensor], Any, Any]:
    """Greedy steps through model(...) and through the DecodeStep, from the same prefill."""
    step = decode_step_for(model)
    assert step is not None
    ids, mask = prompt(pads)
    positions = None if mask is None else (mask.cumsum(-1) - 1).clamp_min(0)
    caches, logits = [], []
    with split_context(spec):
        for _ in range(2):
            cache = DynamicCache(config=model.config)
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache)
            caches.append(cache)
            logits.append([out.logits[:, -1].float()])
        pos = None if positions is None else positions[:, -1:]
        for _ in range(steps):
            token = logits[0][-1].argmax(-1, keepdim=True)  # (B, 1): both ways feed the same
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
                assert pos is not None
                pos = pos + 1
            ours = model(input_ids=token, attention_mask=mask, position_ids=pos, cache=caches[0])
            logits[0].append(ours.logits[:, -1].float())
            logits[1].append(step(token, caches[1], mask, pos))
    return logits[0], logits[1], caches[0], caches[1]


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("split", [False, True])
def test_steps_give_the_models_logits(family: str, split: bool) -> None:
    spec = SplitSpec.from_spans(0.5, [(2, 9)]) if split else None
    theirs, ours, cache_a, cache_b = both_ways(tiny(family), [0], spec)
    for a, b in zip(theirs, ours, strict=True):
        assert (a - b).abs().max().item() <= TOL
    # The cache the next turn reuses holds the same keys and values.
    for la, lb in zip(cache_a.layers, cache_b.layers, strict=True):
        assert torch.allclose(la.keys, lb.keys, atol=TOL) and torch.allclose(la.values, lb.values)


@pytest.mark.parametrize("split", [False, True])
def test_batched_steps_with_left_padding_give_the_models_logits(split: bool) -> None:
    pads = [0, 5, 2]
    spec = SplitSpec.from_spans(0.5, [(0, 8), (5 + 1, 5 + 6), (2, 2)]) if split else None
    theirs, ours, _, _ = both_ways(tiny("llama"), pads, spec)
    for a, b in zip(theirs, ours, strict=True):
        assert (a - b).abs().max().item() <= TOL


def test_bfloat16_steps_match_to_the_bit() -> None:
    """Same ops in the same order: even bfloat16 rounding comes out the same."""
    theirs, ours, _, _ = both_ways(tiny("qwen2", torch.bfloat16), [0], None)
    for a, b in zip(theirs, ours, strict=True):
        assert torch.equal(a, b)


def test_other_layouts_keep_the_models_forward() -> None:
    torch.manual_seed(0)
    gemma = GemmaForCausalLM(GemmaConfig(**TINY, head_dim=16)).eval()
    assert unsupported_reason(gemma) is not None and decode_step_for(gemma) is None
    sliding = MistralForCausalLM(MistralConfig(**TINY, sliding_window=8)).eval()
    assert unsupported_reason(sliding) == "sliding-window attention"
    assert unsupported_reason(tiny("llama")) is None


def test_engine_steps_follow_the_attention_in_use(tiny_engine: Any) -> None:
    """With another attention set (the benchmark's sdpa runs) the model's forward runs."""
    assert tiny_engine.decode_step is not None and tiny_engine.decode_step.usable()
    tiny_engine.model.set_attn_implementation("sdpa")
    try:
        assert not tiny_engine.decode_step.usable()
    finally:
        tiny_engine.model.set_attn_implementation(IMPLEMENTATION)


@pytest.mark.slow
def test_default_model_steps_match_its_forward(real_engine: Any) -> None:
    """The bundled model (packed int4 decode weights, bfloat16): the same logits either way."""
    engine = real_engine
    model = engine.model
    assert engine.decode_step is not None
    ids = engine.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]

    @torch.inference_mode()
    def run() -> list[tuple[torch.Tensor, torch.Tensor]]:
        caches = [DynamicCache(config=model.config) for _ in range(2)]
        for cache in caches:
            model(input_ids=ids, cache=cache, logits_to_keep=1)
        token, pairs = ids[:, -1:], []
        for _ in range(3):
            a = model(input_ids=token, cache=caches[0], logits_to_keep=1).logits[:, -1].float()
            b = engine.decode_step(token, caches[1])
            pairs.append((a, b))
            token = a.argmax(-1, keepdim=True)
        return pairs

    for a, b in engine.gate.run(run):
        assert a.argmax() == b.argmax()
        # bfloat16: 1e-2 absolute; float32 on the AVX2 path: the int16 rounding of rows that
        # differ in the last bits (test_native_step.TOL_REAL, 0.005 of the spread)
        assert (a - b).abs().max().item() <= max(1e-2, 5e-3 * a.std().item())

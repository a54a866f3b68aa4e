"""Fixtures for engine tests: the real tokenizer on a tiny random model (fast, no downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from assistant.config import ModelSettings, Settings
from assistant.llm.engine import Engine
from assistant.llm.loader import LoadedModel, _load_gguf_cached, pick_dtype


@pytest.fixture(scope="session")
def smol_tokenizer(model_cache_dir: Path) -> Any:
    """SmolLM2's tokenizer and chat template (converts the bundled GGUF once per session)."""
    from assistant.bundled import default_chat_gguf

    # The dtype real_engine uses, so the session converts the GGUF only once.
    dtype = pick_dtype("auto", torch.device("cpu"))
    _, tokenizer, _, _ = _load_gguf_cached(default_chat_gguf(), dtype, model_cache_dir)
    return tokenizer


# A two-layer model shape with grouped heads (4 query heads on 2 key/value heads), for the
# attention tests on several model families.
TINY = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)


def tiny_llama(vocab: int, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=2,
        bos_token_id=1,
        pad_token_id=2,
    )
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config).eval()


def make_engine(tokenizer: Any, **model_settings: Any) -> Engine:
    """An Engine around a tiny random Llama that speaks SmolLM2's token ids."""
    settings = Settings(model=ModelSettings(**model_settings))
    model = tiny_llama(len(tokenizer))
    loaded = LoadedModel(model, tokenizer, "tiny", torch.device("cpu"), torch.float32, False, 0.0)
    return Engine(loaded, settings)


@pytest.fixture
def tiny_engine(smol_tokenizer: Any) -> Engine:
    return make_engine(smol_tokenizer)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    """Tiny models run fastest on one thread, and the test machines are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

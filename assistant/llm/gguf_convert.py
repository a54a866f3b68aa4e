"""Turn a Llama-layout GGUF into a transformers model folder in seconds, not a minute.

transformers reads a GGUF through the `gguf` package's generic reader, which wraps each of
the ~100,000 vocabulary and merge strings in its own numpy view, three times over (config,
tokenizer, weights), then maps every tensor name by walking the model: about 40 s of a
first start on 2 cores. Here the header is parsed once with `struct`, the weights are
de-quantised whole-tensor with torch (same operations in the same order as the `gguf`
package's numpy code, so the floats are the same to the bit), and the folder is written
directly: config.json, generation_config.json, model.safetensors and the tokenizer.
The result is what `save_pretrained` writes after transformers' own conversion; a test
compares every tensor of both bit for bit.

Only what the bundled model needs is covered: the `llama` architecture with F32, F16,
Q8_0 and Q4_1 tensors. Anything else raises `Unsupported` and the caller takes
transformers' path (loader.py).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import torch

F32, F16, Q4_1, Q8_0 = 0, 1, 3, 8
BLOCK = {Q4_1: (32, 20), Q8_0: (32, 34)}  # ggml type -> (values per block, bytes per block)
# fixed-size metadata value types: struct format
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

# GGUF tensor name (per block "blk.N.") -> transformers name, Llama layout
_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


class Unsupported(Exception):
    """This file needs transformers' general conversion (another architecture or type)."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the file: its shape in torch order and where its bytes are."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # absolute, in the file


@dataclass(frozen=True)
class GgufFile:
    """A GGUF's metadata and tensor table, over a read-only map of the file."""

    metadata: dict[str, Any]
    tensors: list[TensorEntry]
    data: mmap.mmap


def read_gguf(path: Path) -> GgufFile:
    """Parse the header and tensor table (strings read once, tensor bytes left in the map)."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"GGUF":
        raise Unsupported(f"{path.name} is not a GGUF file")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    if version not in (2, 3):
        raise Unsupported(f"GGUF version {version}")
    pos = 24
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key, pos = _string(data, pos)
        (kind,) = struct.unpack_from("<I", data, pos)
        metadata[key], pos = _value(data, pos + 4, kind)
    entries = []
    for _ in range(n_tensors):
        name, pos = _string(data, pos)
        (n_dims,) = struct.unpack_from("<I", data, pos)
        dims = struct.unpack_from(f"<{n_dims}Q", data, pos + 4)
        kind, offset = struct.unpack_from("<IQ", data, pos + 4 + 8 * n_dims)
        pos += 4 + 8 * n_dims + 12
        entries.append((name, tuple(reversed(dims)), kind, offset))  # ggml lists the fastest dim first
    align = int(metadata.get("general.alignment", 32))
    start = (pos + align - 1) // align * align
    tensors = [TensorEntry(n, s, k, start + o) for n, s, k, o in entries]
    return GgufFile(metadata, tensors, data)


def _string(data: mmap.mmap, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", data, pos)
    end = pos + 8 + length
    return data[pos + 8 : end].decode("utf-8"), end


def _value(data: mmap.mmap, pos: int, kind: int) -> tuple[Any, int]:
    if kind in _SCALAR:
        fmt = _SCALAR[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + struct.calcsize(fmt)
    if kind == _STRING:
        return _string(data, pos)
    if kind == _ARRAY:
        inner, count = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if inner in _SCALAR:
            fmt = _SCALAR[inner][1]
            return list(struct.unpack_from(f"<{count}{fmt}", data, pos)), pos + count * struct.calcsize(fmt)
        values = []
        for _ in range(count):
            value, pos = _value(data, pos, inner)
            values.append(value)
        return values, pos
    raise Unsupported(f"metadata value type {kind}")


def dequantize(file: GgufFile, entry: TensorEntry) -> torch.Tensor:
    """The tensor as float32, computed like the `gguf` package's numpy code (same bits)."""
    import torch

    count = 1
    for dim in entry.shape:
        count *= dim
    if entry.ggml_type == F32:
        return _bytes(file, entry.offset, 4 * count).view(torch.float32).reshape(entry.shape)
    if entry.ggml_type == F16:
        return _bytes(file, entry.offset, 2 * count).view(torch.float16).float().reshape(entry.shape)
    if entry.ggml_type not in BLOCK:
        raise Unsupported(f"tensor {entry.name} has ggml type {entry.ggml_type}")
    per_block, nbytes = BLOCK[entry.ggml_type]
    n_blocks = count // per_block
    blocks = _bytes(file, entry.offset, n_blocks * nbytes).reshape(n_blocks, nbytes)  # (blocks, bytes)
    scale = blocks[:, 0:2].contiguous().view(torch.float16).float()  # (blocks, 1)
    if entry.ggml_type == Q8_0:
        codes = blocks[:, 2:].contiguous().view(torch.int8).float()  # (blocks, 32)
        values = codes * scale
    else:  # Q4_1: 16 bytes of codes, low nibbles are values 0-15, high nibbles 16-31
        low = blocks[:, 2:4].contiguous().view(torch.float16).float()  # (blocks, 1)
        packed = blocks[:, 4:]  # (blocks, 16)
        codes = torch.cat([packed & 0x0F, packed >> 4], dim=1).float()  # (blocks, 32)
        values = (scale * codes) + low  # two roundings, like numpy: no fused multiply-add
    return values.reshape(entry.shape)


def _bytes(file: GgufFile, offset: int, count: int) -> torch.Tensor:
    """A private copy of `count` bytes of the file (the map is read-only; torch wants writable)."""
    import torch

    return torch.frombuffer(bytearray(file.data[offset : offset + count]), dtype=torch.uint8)


def _hf_name(name: str) -> str | None:
    """The transformers parameter name of a GGUF tensor, or None for ones it has no use for."""
    base, _, suffix = name.rpartition(".")
    if suffix != "weight":
        return None
    if base.startswith("blk."):
        _, layer, part = base.split(".", 2)
        mapped = _LAYER_NAMES.get(part)
        return f"model.layers.{layer}.{mapped}.weight" if mapped else None
    top = _TOP_NAMES.get(base)
    return f"{top}.weight" if top else None


def _unpermute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Undo llama.cpp's rotary row order for q/k (as transformers' LlamaTensorProcessor does)."""
    half = w.shape[0] // heads // 2
    return w.reshape(heads, half, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)  # (out, in)


def config_dict(file: GgufFile) -> dict[str, Any]:
    """The transformers config of the file, mapped with transformers' own key table."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_TO_TRANSFORMERS_MAPPING

    meta = file.metadata
    arch = meta.get("general.architecture")
    name = str(meta.get("general.name", "")).lower()
    if arch != "llama" or "mistral" in name:
        raise Unsupported(f"architecture {arch!r}")
    table = cast("dict[str, dict[str, Any]]", GGUF_TO_TRANSFORMERS_MAPPING["config"])
    config: dict[str, Any] = {
        "tie_word_embeddings": all(t.name != "output.weight" for t in file.tensors)
    }
    for key, value in meta.items():
        prefix, _, rest = key.partition(".")
        renamed = table.get(prefix, {}).get(rest)
        if renamed is not None and renamed != -1:
            config[renamed] = value
    if "vocab_size" not in config and "tokenizer.ggml.tokens" in meta:
        config["vocab_size"] = len(meta["tokenizer.ggml.tokens"])
    return config


def state_dict(file: GgufFile, config: dict[str, Any], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Every weight under its transformers name, de-quantised, in `dtype`."""
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    out = {}
    for entry in file.tensors:
        name = _hf_name(entry.name)
        if name is None:
            raise Unsupported(f"tensor {entry.name}")
        w = dequantize(file, entry)
        if ".attn_q." in entry.name:
            w = _unpermute(w, heads)
        elif ".attn_k." in entry.name:
            w = _unpermute(w, kv_heads)
        out[name] = w.to(dtype).contiguous()
    if config.get("tie_word_embeddings"):
        out.pop("lm_head.weight", None)  # tied: save_pretrained leaves it out too
    return out


def convert_to_folder(gguf: Path, folder: Path, dtype: torch.dtype) -> None:
    """Write the converted model and tokenizer into `folder` (which must exist)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, GenerationConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    file = read_gguf(gguf)
    settings = config_dict(file)
    config = AutoConfig.for_model(**settings)
    config.dtype = dtype
    config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.model_type]]  # as save_pretrained writes
    with torch.inference_mode():
        weights = state_dict(file, settings, dtype)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)
    GenerationConfig.from_model_config(config).save_pretrained(folder)
    # The class transformers picks for a Llama GGUF; it reads the vocabulary with its fast reader.
    tok = TokenizersBackend.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.save_pretrained(folder)

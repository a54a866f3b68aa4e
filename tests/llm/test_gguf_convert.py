"""First start: the direct GGUF conversion gives transformers' weights to the bit, quickly and quietly."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch

from assistant.config import ModelSettings
from assistant.errors import ModelLoadError
from assistant.llm import gguf_convert
from assistant.llm.loader import MARKER, _convert_gguf, load_model


def _gguf_bytes(tensors: list[tuple[str, tuple[int, ...], int, bytes]], meta: dict[str, str]) -> bytes:
    """A small GGUF v3 file: string metadata and the given tensors (shape in torch order)."""

    def text(s: str) -> bytes:
        raw = s.encode()
        return struct.pack("<Q", len(raw)) + raw

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for key, value in meta.items():
        head += text(key) + struct.pack("<I", 8) + text(value)
    offset, table, blobs = 0, b"", b""
    for name, shape, kind, data in tensors:
        table += text(name) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *reversed(shape))
        table += struct.pack("<IQ", kind, offset)
        pad = (-len(data)) % 32
        blobs += data + b"\0" * pad
        offset += len(data) + pad
    body = head + table
    return body + b"\0" * ((-len(body)) % 32) + blobs


def test_q4_1_and_q8_0_match_the_gguf_package_bit_for_bit(tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGMLQuantizationType, dequantize, quantize

    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 64)).astype(np.float32) * 3
    q41 = quantize(values, GGMLQuantizationType.Q4_1)
    q80 = quantize(values, GGMLQuantizationType.Q8_0)
    path = tmp_path / "t.gguf"
    path.write_bytes(_gguf_bytes(
        [("a.weight", (6, 64), gguf_convert.Q4_1, q41.tobytes()),
         ("b.weight", (6, 64), gguf_convert.Q8_0, q80.tobytes()),
         ("c.weight", (6, 64), gguf_convert.F32, values.tobytes())],
        {"general.architecture": "llama"},
    ))  # fmt: skip
    file = gguf_convert.read_gguf(path)
    assert file.metadata == {"general.architecture": "llama"}
    got = {e.name: gguf_convert.dequantize(file, e) for e in file.tensors}
    for name, ref in (
        ("a.weight", dequantize(q41, GGMLQuantizationType.Q4_1)),
        ("b.weight", dequantize(q80, GGMLQuantizationType.Q8_0)),
        ("c.weight", values),
    ):
        assert torch.equal(got[name].view(torch.int32), torch.from_numpy(np.ascontiguousarray(ref)).view(torch.int32))


def test_other_architectures_are_left_to_transformers(tmp_path: Path) -> None:
    path = tmp_path / "t.gguf"
    path.write_bytes(_gguf_bytes([], {"general.architecture": "gemma3"}))
    with pytest.raises(gguf_convert.Unsupported, match="gemma3"):
        gguf_convert.config_dict(gguf_convert.read_gguf(path))


def test_a_damaged_gguf_says_to_reinstall(tmp_path: Path) -> None:
    from assistant.bundled import default_chat_gguf

    folder = tmp_path / "wheel"
    folder.mkdir()
    bad = folder / "m.gguf"
    bad.write_bytes(default_chat_gguf().read_bytes()[: 5_000_000])  # metadata whole, tensors cut off
    with pytest.raises(ModelLoadError, match="reinstall"):
        load_model(ModelSettings(path=str(folder), gguf_file="m.gguf"), cache_dir=tmp_path / "models")


@pytest.mark.slow
def test_direct_conversion_equals_transformers_conversion_bit_for_bit(tmp_path: Path) -> None:
    """Every tensor, the config and the tokenizer of the bundled model, both ways."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.bundled import default_chat_gguf

    gguf = default_chat_gguf()
    ref_model, ref_tok = _convert_gguf(gguf)
    for dtype in (torch.float32, torch.bfloat16):  # float32 first: .to() casts the reference in place
        folder = tmp_path / str(dtype)
        folder.mkdir()
        gguf_convert.convert_to_folder(gguf, folder, dtype)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        ref = ref_model.to(dtype).state_dict()
        mine = model.state_dict()
        assert mine.keys() == ref.keys()
        for name, tensor in ref.items():
            assert mine[name].dtype == tensor.dtype
            assert torch.equal(mine[name].view(torch.int16), tensor.view(torch.int16)), name
        saved = tmp_path / f"ref-{dtype}"
        ref_model.save_pretrained(saved)  # what the cache held before: the same config file
        for name in ("config.json", "generation_config.json"):
            assert json.loads((folder / name).read_text()) == json.loads((saved / name).read_text())
    tok = AutoTokenizer.from_pretrained(folder)
    text = "Hello, world! <|im_start|>user\n12345 héllo   tabs\tand émojis 🙂<|im_end|>"
    assert tok(text)["input_ids"] == ref_tok(text)["input_ids"]
    assert tok.backend_tokenizer.to_str() == ref_tok.backend_tokenizer.to_str()
    assert tok.chat_template == ref_tok.chat_template
    assert (tok.eos_token, tok.bos_token, tok.pad_token) == (ref_tok.eos_token, ref_tok.bos_token, ref_tok.pad_token)


@pytest.mark.slow
def test_first_start_prints_one_line_and_warm_starts_print_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "models"
    first = load_model(ModelSettings(), cache_dir=root)
    err = capfd.readouterr().err
    assert not first.from_cache
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("First start:"), err
    assert "Loading weights" not in err and "de-quantizing" not in err
    assert any((p / MARKER).is_file() for p in root.iterdir())
    warm = load_model(ModelSettings(), cache_dir=root)
    err = capfd.readouterr().err
    assert warm.from_cache
    assert err.strip() == "", err
    shutil.rmtree(root)

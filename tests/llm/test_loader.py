"""Loading: clear errors for bad model paths, and a converted-weights cache that heals itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from assistant.config import ModelSettings
from assistant.errors import ModelLoadError
from assistant.llm.loader import MARKER, _cache_is_complete, _cache_key, load_model, pick_dtype


def test_missing_local_folder_says_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist.*Hugging Face model folder"):
        load_model(ModelSettings(path=str(tmp_path / "no-such-model")))


def test_folder_without_a_model_says_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(ModelSettings(path=str(tmp_path / "empty")))


def test_hub_id_offline_says_what_to_download_and_where() -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(ModelSettings(path="someone/not-on-this-machine"))
    message = str(err.value)
    assert "huggingface-cli download someone/not-on-this-machine" in message
    assert "model.path" in message and "\n" not in message


def test_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model.gguf_file 'x.gguf'"):
        load_model(ModelSettings(path=str(tmp_path), gguf_file="x.gguf"))


def test_cache_counts_only_with_marker_and_matching_files(tmp_path: Path) -> None:
    key = {"format": 1, "source": "x.gguf", "size": 3}
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"abcdef")
    assert not _cache_is_complete(folder, key)  # a partial write: no marker yet
    files = {"model.safetensors": 6}
    (folder / MARKER).write_text(json.dumps({"key": key, "files": files}))
    assert _cache_is_complete(folder, key)
    assert not _cache_is_complete(folder, {**key, "size": 4})  # another GGUF
    (folder / "model.safetensors").write_bytes(b"abc")  # truncated
    assert not _cache_is_complete(folder, key)


@pytest.mark.slow
def test_damaged_cache_is_rebuilt_and_then_used(
    model_cache_dir: Path, smol_tokenizer: object, tmp_path: Path
) -> None:
    cached = next(p for p in model_cache_dir.iterdir() if (p / MARKER).is_file())
    root = tmp_path / "models"
    shutil.copytree(cached, root / cached.name)
    weights = root / cached.name / "model.safetensors"
    with weights.open("r+b") as fh:  # same size, unreadable header
        fh.write(b"\xff" * 64)
    rebuilt = load_model(ModelSettings(), cache_dir=root)
    assert not rebuilt.from_cache
    warm = load_model(ModelSettings(), cache_dir=root)
    assert warm.from_cache and warm.dtype == pick_dtype("auto", torch.device("cpu"))
    assert warm.load_s < 10


def test_the_same_gguf_installed_in_two_checkouts_shares_one_copy(tmp_path: Path) -> None:
    # Keyed on the path, two checkouts' processes rebuilt the shared copy in turn.
    data = bytes(range(256)) * 5000
    for where in ("a", "b", "c"):
        (tmp_path / where).mkdir()
    (tmp_path / "a" / "m.gguf").write_bytes(data)
    (tmp_path / "b" / "m.gguf").write_bytes(data)
    (tmp_path / "c" / "m.gguf").write_bytes(data[:-1] + b"x")  # same size, other weights
    key_a, key_b, key_c = (_cache_key(tmp_path / w / "m.gguf") for w in ("a", "b", "c"))
    assert key_a == key_b
    assert key_c != key_a


def test_auto_dtype_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr("assistant.llm.loader.cpu_has_bf16", lambda: True)
    assert pick_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr("assistant.llm.loader.cpu_has_bf16", lambda: False)
    assert pick_dtype("auto", cpu) == torch.float32
    assert pick_dtype("float16", cpu) == torch.float16  # an explicit choice always wins


_START = """
import json, sys
from pathlib import Path
from assistant.config import ModelSettings
from assistant.llm.loader import load_model
m = load_model(ModelSettings(threads=1, packed_decode="off"), cache_dir=Path(sys.argv[1]))
print(json.dumps({"from_cache": m.from_cache, "tokens": m.tokenizer("Hello there")["input_ids"]}))
"""


@pytest.mark.slow
def test_two_processes_starting_together_on_an_empty_cache_both_load(tmp_path: Path) -> None:
    # Both used to convert at once; one's swap deleted the folder the other was reading
    # ("Couldn't instantiate the backend tokenizer", "no file named model.safetensors").
    import subprocess
    import sys

    root = tmp_path / "models"
    script = tmp_path / "start.py"
    script.write_text(_START)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert "could not save" not in err, err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(r["from_cache"] for r in results) == [False, True]  # converted once, then read
    assert results[0]["tokens"] == results[1]["tokens"] and results[0]["tokens"]
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / MARKER).is_file()  # no temp folder left behind

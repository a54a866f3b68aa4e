"""Memory reads a plain sentence-transformers folder itself; any other layout goes to the library."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memory import embeddings
from memory.sentence_folder import plain_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the bundled model's folder to change."""
    copy = tmp_path / "model"
    shutil.copytree(embeddings.resolve_model(""), copy)
    return copy


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_the_bundled_model_is_a_plain_mean_pooled_folder() -> None:
    layout = plain_layout(embeddings.resolve_model(""))
    assert layout is not None
    assert layout.max_seq_length == 256 and layout.dim == 384


@pytest.mark.parametrize(
    "change",
    [
        (
            "1_Pooling/config.json",
            {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True},
        ),
        ("1_Pooling/config.json", {"pooling_mode_max_tokens": True}),
        ("sentence_bert_config.json", {"do_lower_case": True}),
        ("sentence_bert_config.json", {"model_args": {"trust_remote_code": True}}),
    ],
)
def test_another_layout_is_left_to_sentence_transformers(
    folder: Path, change: tuple[str, dict[str, object]]
) -> None:
    name, values = change
    _edit(folder / name, **values)
    assert plain_layout(folder) is None
    assert embeddings.Encoder.from_folder(str(folder), "float32") is None


def test_a_dense_layer_or_no_modules_file_is_left_to_sentence_transformers(folder: Path) -> None:
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(
        2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (folder / "modules.json").write_text(json.dumps(modules))
    assert plain_layout(folder) is None
    (folder / "modules.json").unlink()
    assert plain_layout(folder) is None


def test_the_folder_encoder_gives_sentence_transformers_vectors(folder: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = [
        "ok",
        "Where did we go camping in July?",
        "lighthouse " * 400,
    ]  # the last is cut at 256
    encoder = embeddings.Encoder.from_folder(str(folder), "float32")
    assert encoder is not None and encoder.max_length == 256 and encoder.dim == 384
    got = encoder(texts)
    want = SentenceTransformer(str(folder), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(got, want, atol=1e-5)


def test_embedding_with_the_bundled_model_does_not_import_sentence_transformers() -> None:
    # its import (scikit-learn, pandas, datasets) cost seconds before the first reply
    code = (
        "import sys\n"
        "from memory.embeddings import Embedder\n"
        "e = Embedder()\n"
        "assert e.embed(['hello there']).shape == (1, e.dim)\n"
        "print(sorted(m for m in ('sentence_transformers', 'sklearn', 'datasets') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

"""bench/memory_recall.py --compare-paths: the "encode" path really is the pre-issue-17 one."""

from __future__ import annotations

import numpy as np

from bench.memory_recall import embedding_path, other_path
from memory import embeddings

TEXTS = ["Melanie: we went camping near the lake in July", "ok", "where did they go camping?"]


def test_encode_path_gives_sentence_transformers_vectors_and_restores_the_direct_one() -> None:
    embedder = embeddings.Embedder()
    model = embeddings.shared_model()
    old = model.encode(
        TEXTS,
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    with embedding_path("encode"):
        assert embeddings.shared_encoder() is None and embeddings.BATCH == 64
        assert np.allclose(embedder.embed(TEXTS), old, atol=1e-6)
    direct = embeddings.shared_encoder()
    assert direct is not None and embeddings.BATCH == 16
    with embedding_path("direct"):
        assert embeddings.shared_encoder() is direct
    assert other_path("direct") == "encode" and other_path("encode") == "direct"

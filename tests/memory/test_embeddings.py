"""The direct embedding path: same vectors as SentenceTransformer.encode, old stores still found."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from memory import embeddings
from memory.store import MemoryStore
from memory.types import EpisodeIn

TEXTS = [
    "ok",
    "Melanie: I ran a charity race for mental health last Saturday, it was so rewarding!",
    "Caroline: The support group meets on Tuesdays at the library; I went yesterday. " * 3,
    "Grüße aus München — das Zelt steht am See.",
    "lighthouse " * 400,  # past the model's 256-token limit: cut like encode cuts it
    "Where did you go camping in July?",
]


def reference(texts: list[str]) -> np.ndarray:
    model = embeddings.shared_model()
    return np.asarray(
        model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    )


@pytest.fixture
def fresh_encoders() -> Iterator[None]:
    """Let a test build encoders under its own settings; the process's ones come back after."""
    saved = dict(embeddings._encoders)
    embeddings._encoders.clear()
    yield
    embeddings._encoders.clear()
    embeddings._encoders.update(saved)


def test_direct_vectors_match_encode_row_for_row() -> None:
    got = embeddings.Embedder().embed(TEXTS)
    want = reference(TEXTS)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * want).sum(axis=1)
    assert cos.min() > 0.9999, cos  # bfloat16 Linear layers (where native) stay this close
    # sorted by length inside: each row must still be its own text's vector
    assert (got @ want.T).argmax(axis=1).tolist() == list(range(len(TEXTS)))


def test_order_and_batching_do_not_change_a_texts_vector() -> None:
    embedder = embeddings.Embedder()
    order = [4, 0, 5, 2, 1, 3]
    together = embedder.embed(TEXTS)
    shuffled = embedder.embed([TEXTS[i] for i in order])
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    assert np.allclose(shuffled, together[order], atol=2e-3)
    assert ((alone * together).sum(axis=1) > 0.9999).all()


def test_float32_setting_gives_encodes_vectors(
    monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    monkeypatch.setenv(embeddings.PRECISION_VAR, "float32")
    encoder = embeddings.shared_encoder()
    assert encoder is not None and encoder.precision == "float32"
    assert np.allclose(embeddings.Embedder().embed(TEXTS), reference(TEXTS), atol=1e-5)


def test_bfloat16_only_on_a_cpu_that_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(embeddings.PRECISION_VAR, raising=False)
    monkeypatch.setattr(embeddings, "bf16_native", lambda: False)
    assert embeddings.wanted_precision() == "float32"  # emulated bfloat16 would be slower
    monkeypatch.setattr(embeddings, "bf16_native", lambda: True)
    assert embeddings.wanted_precision() == "bfloat16"
    monkeypatch.setenv(embeddings.PRECISION_VAR, "float32")
    assert embeddings.wanted_precision() == "float32"


def test_a_model_pooled_another_way_keeps_encode() -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling

    base = embeddings.shared_model()
    cls_pooled = SentenceTransformer(modules=[base[0], Pooling(384, pooling_mode="cls")])
    assert embeddings.Encoder.for_model(cls_pooled, "float32") is None
    assert embeddings.Encoder.for_model(base, "float32") is not None


def test_dimension_without_the_renamed_method_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        assert embeddings.Embedder().dim == 384


def test_a_store_written_by_the_old_path_is_found_by_the_new_one(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vectors stored before the direct path existed (encode, float32) still match today's queries."""
    turns = [
        ("Caroline", "I finally adopted a grey rescue cat called Pixel last month."),
        ("Melanie", "We painted a sunrise over the lake with the kids on Sunday."),
        ("Caroline", "My grandmother gave me a silver necklace from Sweden."),
        ("Melanie", "I signed up for pottery classes; my first bowl came out lopsided."),
    ]
    key = embeddings.resolve_model("")
    monkeypatch.setitem(embeddings._encoders, key, None)  # the old path: SentenceTransformer.encode
    store.episodes.add_many(
        "ann",
        [
            EpisodeIn(text, thread="t", speaker=who, id=f"turn-{n}")
            for n, (who, text) in enumerate(turns)
        ],
    )
    monkeypatch.undo()
    assert embeddings.shared_encoder() is not None  # searches now embed the direct way
    store.episodes._embedder._cache.clear()
    for question, want in [
        ("what is the name of the cat she adopted", "turn-0"),
        ("which country is the necklace from", "turn-2"),
        ("what did she make in her ceramics class", "turn-3"),
    ]:
        hits = store.search("ann", question, kinds=("episodes",), k=4, mode="vector")
        assert hits[0].id == want, (question, [h.id for h in hits])


def test_the_bundled_model_runs_packed_and_gives_the_padded_paths_vectors(
    monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    """The packed path (no work on padding) is what embeds, and its vectors are the padded ones."""
    from memory import packed_bert

    texts = [
        *TEXTS,
        *(f"Ann: day {n} of the trip, we walked {n} km by the river" for n in range(70)),
    ]
    packed = embeddings.shared_encoder()
    assert packed is not None and packed.packed is not None
    got = embeddings.Embedder().embed(texts)  # more than one 64-text pass, mixed lengths
    embeddings._encoders.clear()
    monkeypatch.setattr(packed_bert.PackedBert, "for_network", lambda *a, **k: None)
    padded = embeddings.shared_encoder()
    assert padded is not None and padded.packed is None
    want = embeddings.Embedder().embed(texts)
    assert ((got * want).sum(axis=1) > 0.9999).all()
    assert (got @ want.T).argmax(axis=1).tolist() == list(range(len(texts)))


def test_a_packed_path_that_would_change_vectors_is_not_used(
    monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    from memory import packed_bert

    monkeypatch.setattr(packed_bert, "AGREE", {"float32": 1.01, "bfloat16": 1.01})  # unreachable
    encoder = embeddings.shared_encoder()
    assert encoder is not None and encoder.packed is None  # the padded forward instead
    cos = (embeddings.Embedder().embed(TEXTS) * reference(TEXTS)).sum(axis=1)
    assert cos.min() > 0.9999, cos


def test_a_short_query_runs_on_one_thread_and_gives_the_count_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A query's few tokens gain nothing from a second thread; the model thread keeps its count."""
    import torch

    from assistant import runtime_env
    from assistant.llm.gate import shared_gate

    # An earlier test in the same process may have turned adaptive threads on; then a busy
    # machine (another job beside the suite) gives the batch one thread too, which is a
    # different feature than the one under test here.
    monkeypatch.setattr(runtime_env, "_adaptive", False)
    seen: list[int] = []
    encoder = embeddings.shared_encoder()
    assert encoder is not None
    original = type(encoder).__call__

    def spy(self: embeddings.Encoder, texts: list[str], batch: int = 0) -> np.ndarray:
        seen.append(torch.get_num_threads())
        return original(self, texts, batch)

    monkeypatch.setattr(type(encoder), "__call__", spy)
    gate = shared_gate()
    before = gate.run(torch.get_num_threads)
    gate.run(lambda: torch.set_num_threads(2))
    try:
        embedder = embeddings.Embedder()
        query = embedder.embed_one("where did we go camping in July?")
        bulk = embedder.embed([f"turn {n}: we talked about the trip" for n in range(20)])
        assert seen == [1, 2]  # the query on one thread, the batch on the model thread's two
        assert gate.run(torch.get_num_threads) == 2
        assert query.shape == (384,) and bulk.shape == (20, 384)
    finally:
        gate.run(lambda: torch.set_num_threads(before))


def test_the_avx2_switch_turns_bfloat16_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASSISTANT_CPU_ISA=avx2 hides bf16 units from memory as from the engine."""
    monkeypatch.setenv("ASSISTANT_CPU_ISA", "avx2")
    monkeypatch.delenv(embeddings.PRECISION_VAR, raising=False)
    assert not embeddings.bf16_native()
    assert embeddings.wanted_precision() == "float32"

"""Sentence embeddings for memory: one model per process, normalised vectors, cosine space.

Chroma's built-in default embedding function downloads a model at run time, which fails
offline; every collection gets `LocalEmbeddingFunction` instead. Memory code embeds
explicitly through `Embedder` (batched) and hands Chroma the vectors, so each text is
embedded once even when it is also used for duplicate checks.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant import runtime_env
from assistant.errors import ModelLoadError
from assistant.llm.gate import shared_gate

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EF_NAME = "purposeful_sentence_transformer"
BATCH = 64  # measured fastest on 2 cores (~600 short sentences/s)
INTERACTIVE_TEXTS = 8  # up to this many texts (a query) go before background model work
CHUNK = 4 * BATCH  # texts per background task: a chat waits for at most one chunk

_models: dict[str, SentenceTransformer] = {}
_models_lock = threading.Lock()


def resolve_model(name: str = "") -> str:
    """The model folder or name to load: "" means the bundled all-MiniLM-L6-v2."""
    if name:
        return name
    from assistant.bundled import default_embedding_dir

    return str(default_embedding_dir())


def shared_model(name: str = "") -> SentenceTransformer:
    """The sentence-transformers model, loaded once per process (the load is the slow part)."""
    key = resolve_model(name)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # a sub-second load: its progress bar would only break into a streamed chat reply
                was_enabled = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()
                try:  # loading runs torch ops too: on the torch thread, like encoding
                    model = shared_gate().run(
                        lambda: SentenceTransformer(key, device="cpu", local_files_only=True)
                    )
                finally:
                    if was_enabled:
                        hf_logging.enable_progress_bar()
            except Exception as exc:  # the library raises many kinds; all mean "cannot load"
                raise ModelLoadError(
                    f"embedding model {key!r} could not be loaded ({exc}); set memory.embedding_model "
                    "to a local sentence-transformers folder, or leave it empty for the bundled model"
                ) from exc
            _models[key] = model
        return model


def _use_request_threads() -> None:
    """On the torch thread: the thread count runtime_env picks for this request (if it picks)."""
    wanted = runtime_env.request_threads()
    if wanted:
        import torch

        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)


class Embedder:
    """Batched, normalised embeddings with a small cache for repeated short texts (queries)."""

    def __init__(self, name: str = "", cache_size: int = 512) -> None:
        self.name = resolve_model(name)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        dim = shared_model(self.name).get_sentence_embedding_dimension()
        return int(dim or 384)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns (N, D) float32 rows of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = shared_model(self.name)
        gate = shared_gate()

        def encode(chunk: list[str]) -> np.ndarray:
            _use_request_threads()
            vectors = model.encode(
                chunk,
                batch_size=BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)

        # On the process's one torch thread (see assistant/llm/gate.py). A query is what a
        # person waits for; a bulk ingest goes in background chunks a chat can cut between.
        items = list(texts)
        if len(items) <= INTERACTIVE_TEXTS:
            return gate.run(lambda: encode(items), "interactive")
        futures = [
            gate.submit(functools.partial(encode, items[i : i + CHUNK]), "background")
            for i in range(0, len(items), CHUNK)
        ]
        return np.concatenate([f.result() for f in futures])  # (N, D)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text (cached: recall and search repeat the same queries)."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.embed([text])[0]
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


@register_embedding_function
class LocalEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over the shared local sentence-transformers model."""

    def __init__(self, model: str = "") -> None:
        self._model_name = model  # "" = bundled model, resolved lazily so building is cheap

    def __call__(self, input: Documents) -> Embeddings:
        vectors = Embedder(self._model_name).embed(list(input))
        return [row for row in vectors]

    @staticmethod
    def name() -> str:
        return EF_NAME

    def default_space(self) -> Any:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LocalEmbeddingFunction:
        return LocalEmbeddingFunction(str(config.get("model", "")))

    def is_legacy(self) -> bool:
        return False


def model_label(name: str) -> str:
    """A short printable name of the embedding model."""
    return Path(name).name if name else "all-MiniLM-L6-v2 (bundled)"

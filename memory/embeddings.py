"""Sentence embeddings for memory: one model per process, normalised vectors, cosine space.

Chroma's built-in default embedding function downloads a model at run time, which fails
offline; every collection gets `LocalEmbeddingFunction` instead. Memory code embeds
explicitly through `Embedder` (batched) and hands Chroma the vectors, so each text is
embedded once even when it is also used for duplicate checks.

Speed (issue 17, bench/memory_recall.py): a mean-pooled model (the bundled one) is run
directly, tokenizer -> transformer -> mean -> unit length under `torch.inference_mode`,
not through `SentenceTransformer.encode`, whose per-call work cost a single query a tenth
of its time. The texts of one call are sorted by length. A plain BERT (the bundled model)
runs packed (`memory.packed_bert`): its Linear layers see only real tokens, 64 texts per
pass; any other mean-pooled model runs padded, 16 texts per pass. On a CPU with native
bfloat16 (AVX-512 BF16, AMX) the Linear layers multiply in bfloat16 while layer norms
and pooling stay float32: 2.1x the turns per CPU-second, and the packed path 1.35-1.4x
that again. The vectors stay within cosine 0.9999 of float32 ones, so stores written
before keep working with queries embedded now and the other way round (recall measured
both ways). `ASSISTANT_EMBED_PRECISION=float32` turns bfloat16 off.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant import runtime_env
from assistant.errors import ModelLoadError
from assistant.llm.build_lock import building
from assistant.llm.gate import shared_gate
from memory.packed_bert import PackedBert
from memory.sentence_folder import plain_layout

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EF_NAME = "purposeful_sentence_transformer"
BATCH = 16  # texts per padded forward pass: fastest per text on 2 cores (64 was 0.8x, 128 0.55x)
# texts per packed forward pass (memory/packed_bert.py): no Linear work on padding, so the
# wider products win (texts sorted by length: 64 gave 1.07-1.09x the turns/s of 16)
PACKED_BATCH = 64
PRECISION_VAR = "ASSISTANT_EMBED_PRECISION"  # "float32" keeps the Linear layers in float32
INTERACTIVE_TEXTS = 8  # up to this many texts (a query) go before background model work
QUERY_CHARS = 1000  # up to this many characters in all is a short query: one thread (_one_thread)
CHUNK = 4 * BATCH  # texts per background task: a chat waits for at most one chunk

_models: dict[str, SentenceTransformer] = {}
_encoders: dict[str, Encoder | None] = {}  # None: the model's layout needs `encode`
_models_lock = threading.Lock()
_encoder_lock = threading.Lock()  # one encoder load at a time (held around shared_model's)


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

                def build() -> SentenceTransformer:
                    # one transformers build at a time, and no progress bar (build_lock.py)
                    with building():
                        return SentenceTransformer(key, device="cpu", local_files_only=True)

                # loading runs torch ops too: on the torch thread, like encoding
                model = shared_gate().run(build)
            except Exception as exc:  # the library raises many kinds; all mean "cannot load"
                raise ModelLoadError(
                    f"embedding model {key!r} could not be loaded ({exc}); set memory.embedding_model "
                    "to a local sentence-transformers folder, or leave it empty for the bundled model"
                ) from exc
            _models[key] = model
        return model


def bf16_native() -> bool:
    """Whether this CPU multiplies bfloat16 natively (otherwise bfloat16 is emulated: slower).

    Asks `assistant.llm.cpu_isa` first, so `ASSISTANT_CPU_ISA=avx2` makes memory act as on
    an AVX2 CPU like the engine does (mkldnn alone also says yes for AVX-512 without bf16
    units, where it emulates).
    """
    import torch

    from assistant.llm import cpu_isa

    if not cpu_isa.bf16_units():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def wanted_precision() -> str:
    """'bfloat16' where the CPU has it and the user did not ask for float32, else 'float32'."""
    chosen = os.environ.get(PRECISION_VAR, "").strip().lower()
    if chosen in ("float32", "fp32"):
        return "float32"
    return "bfloat16" if bf16_native() else "float32"


def _bf16_linear(linear: Any) -> Any:
    """A Linear layer that multiplies in bfloat16 and hands float32 on (weights cast once)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    class Bf16Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(
                linear.weight.detach().to(torch.bfloat16), requires_grad=False
            )
            bias = linear.bias
            self.bias = (
                None
                if bias is None
                else torch.nn.Parameter(bias.detach().to(torch.bfloat16), requires_grad=False)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x.to(torch.bfloat16), self.weight, self.bias).to(torch.float32)

    return Bf16Linear()


class Encoder:
    """Tokenizer -> transformer -> mean pooling -> unit length, without SentenceTransformer.encode.

    Only for models made of a Transformer, a mean Pooling and optionally a Normalize module
    (the bundled model and most sentence-transformers models); `for_model` returns None for
    any other layout and the caller keeps `encode`.
    """

    def __init__(
        self, tokenizer: Any, network: Any, max_length: int, precision: str, dim: int
    ) -> None:
        """`network`: a float32 transformer this encoder owns (it may swap its layers)."""
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.precision = precision
        self.dim = dim
        network.eval()
        if getattr(network, "pooler", None) is not None:
            network.pooler = None  # BERT's CLS pooler: not part of a mean-pooled embedding
        # a plain BERT (the bundled model) runs packed: no Linear work on padding
        self.packed = PackedBert.for_network(network, self.tokenizer, precision)
        if self.packed is None and precision == "bfloat16":
            _swap_linears(network)
        self.network: Any = network if self.packed is None else None

    @staticmethod
    def from_folder(folder: str, precision: str) -> Encoder | None:
        """Load a plain mean-pooled sentence-transformers folder with transformers alone
        (memory.sentence_folder), or None for any other layout."""
        layout = plain_layout(folder)
        if layout is None:
            return None
        from transformers import AutoModel, AutoTokenizer

        kwargs = (
            {} if layout.max_seq_length is None else {"model_max_length": layout.max_seq_length}
        )
        tokenizer = AutoTokenizer.from_pretrained(
            layout.transformer, local_files_only=True, **kwargs
        )
        with building():  # not beside the chat model's build (build_lock.py)
            network = AutoModel.from_pretrained(layout.transformer, local_files_only=True)
        limit = layout.max_seq_length or min(
            int(tokenizer.model_max_length),
            int(getattr(network.config, "max_position_embeddings", 512)),
        )
        return Encoder(tokenizer, network, limit, precision, layout.dim)

    @staticmethod
    def for_model(model: SentenceTransformer, precision: str) -> Encoder | None:
        modules = list(model)
        names = [type(m).__name__ for m in modules]
        if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        pooling = modules[1]
        getter = getattr(pooling, "get_pooling_mode_str", None)  # before sentence-transformers 5
        mode = getter() if callable(getter) else getattr(pooling, "pooling_mode", "")
        first: Any = modules[0]
        if (
            mode != "mean"
            or not hasattr(first, "auto_model")
            or getattr(first, "tokenizer", None) is None
        ):
            return None
        # a copy, so the shared model stays as loaded; the token embedding table (the
        # biggest tensor, never cast) is shared with it rather than copied
        table = first.auto_model.get_input_embeddings().weight
        network = copy.deepcopy(first.auto_model, memo={id(table): table})
        dim = _model_dim(model)
        return Encoder(first.tokenizer, network, int(model.max_seq_length or 512), precision, dim)

    def __call__(self, texts: Sequence[str], batch: int = 0) -> np.ndarray:
        """(N, D) float32 unit rows, in the order of texts (batch: texts per forward pass)."""
        import torch

        batch = batch or (PACKED_BATCH if self.packed is not None else BATCH)

        order = sorted(
            range(len(texts)), key=lambda i: len(texts[i])
        )  # similar lengths batch together
        out: np.ndarray | None = None
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                if self.packed is not None:
                    pooled = self.packed(**enc)  # (B, D)
                else:
                    hidden = self.network(**enc).last_hidden_state  # (B, T, D)
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                unit = torch.nn.functional.normalize(pooled, dim=-1).to(torch.float32).numpy()
                if out is None:
                    out = np.empty((len(texts), unit.shape[1]), dtype=np.float32)
                out[idx] = unit
        assert out is not None
        return out


def _model_dim(model: SentenceTransformer) -> int:
    # renamed get_embedding_dimension in sentence-transformers 5.x (the old name warns)
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return int(getter() or 384)


def _swap_linears(network: Any) -> None:
    import torch

    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, _bf16_linear(child))


def shared_encoder(name: str = "", *, here: bool = False) -> Encoder | None:
    """The direct encoder for the model (None: run it through `encode`); one per process.

    A plain mean-pooled folder (the bundled model) loads with transformers alone
    (`Encoder.from_folder`); any other model through sentence-transformers. The load runs on
    the torch thread, or with `here` on the calling thread, which then keeps its torch ops
    to one OpenMP thread (see App.warm_up): the chat's warm-up loads the embedder beside
    the chat model, whose conversion keeps the torch thread busy for seconds on a first
    start (queued behind it, the embedder was ready only after the model).
    """
    key = resolve_model(name)
    if key in _encoders:
        return _encoders[key]
    with _encoder_lock:
        if key in _encoders:  # another thread loaded it while this one waited
            return _encoders[key]
        precision = wanted_precision()

        def from_folder() -> Encoder | None:
            try:
                return Encoder.from_folder(key, precision)
            except Exception as exc:  # transformers raises many kinds; all mean "cannot load"
                raise ModelLoadError(
                    f"embedding model {key!r} could not be loaded ({exc}); set "
                    "memory.embedding_model to a local sentence-transformers folder, or leave "
                    "it empty for the bundled model"
                ) from exc

        encoder = from_folder() if here else shared_gate().run(from_folder)
        if encoder is None:  # another layout: sentence-transformers reads it
            model = shared_model(name)
            # copying the network runs torch ops: on the torch thread
            encoder = shared_gate().run(lambda: Encoder.for_model(model, precision))
        _encoders[key] = encoder
        return encoder


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """On the torch thread: run one short query on one thread, then give back the count.

    A query of a few tokens gains nothing from a second thread (7.1 ms on one against 8.7
    on two, quiet), and on a busy machine every parallel op of it waited for a sibling
    thread the OS had put aside: 20-30% of queries took 0.5-0.6 s instead of 10 ms.
    """
    import torch

    before = torch.get_num_threads()
    if before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before > 1:
            torch.set_num_threads(before)


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
        direct = shared_encoder(self.name)
        if direct is not None:
            return direct.dim
        return _model_dim(shared_model(self.name))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns (N, D) float32 rows of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        gate = shared_gate()
        direct = shared_encoder(self.name)
        model = shared_model(self.name) if direct is None else None

        def encode(chunk: list[str], short: bool = False) -> np.ndarray:
            _use_request_threads()
            with _one_thread() if short else contextlib.nullcontext():
                if direct is not None:
                    return direct(chunk)
                assert model is not None
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
            short = sum(len(t) for t in items) <= QUERY_CHARS
            return gate.run(lambda: encode(items, short), "interactive")
        # sorted by length across the whole call, not per chunk: each forward pass then holds
        # texts of nearly one length (little padding in attention)
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        ranked = [items[i] for i in order]
        futures = [
            gate.submit(functools.partial(encode, ranked[i : i + CHUNK]), "background")
            for i in range(0, len(ranked), CHUNK)
        ]
        vectors = np.concatenate([f.result() for f in futures])  # (N, D), in length order
        out = np.empty_like(vectors)
        out[order] = vectors
        return out

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


@functools.cache
def _vocabulary() -> frozenset[str]:
    folder = Path(resolve_model())
    path = folder / "vocab.txt"
    if not path.is_file():
        return frozenset()
    return frozenset(w for w in path.read_text(encoding="utf-8").split() if w.isalpha())


def is_dictionary_word(word: str) -> bool:
    """True when the bundled embedding model's vocabulary holds the word whole: common
    words ("meeting", "lady") are in it, rare names ("whitfield", "ferri") are not. A
    lower-case word after "my partner" is read as a name only when it is not such a word."""
    return word.lower() in _vocabulary()

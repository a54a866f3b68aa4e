"""Read a sentence-transformers model folder without importing sentence-transformers.

Importing sentence-transformers pulls in scikit-learn, SciPy's statistics, pandas and
`datasets` (about 1.5 s on a quiet 2-core EPYC, several seconds under load) before the
first chat reply can embed anything, though memory only needs the folder's tokenizer and
transformer. For the layout most models use (and the bundled all-MiniLM-L6-v2 has): a
Transformer, mean Pooling, optionally Normalize, `plain_layout` says where the transformer
is and how long its inputs may be, and `memory.embeddings` loads it with transformers
alone. Any other layout (other pooling, a Dense layer, lower-casing, extra loader
arguments) gives None, and the caller loads the folder with sentence-transformers as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
# sentence_bert_config.json keys this reader honours; any other key changes how the
# Transformer module loads or tokenises, so such a folder goes to sentence-transformers
_KNOWN_CONFIG = {"max_seq_length", "do_lower_case"}
_POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


@dataclass(frozen=True)
class PlainLayout:
    """A Transformer -> mean Pooling (-> Normalize) folder, as memory embeds with it."""

    transformer: Path  # the folder transformers loads the tokenizer and the model from
    max_seq_length: int | None  # None: the tokenizer's own limit
    dim: int  # the pooled vector's size


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plain_layout(folder: str | Path) -> PlainLayout | None:
    """The folder's transformer and limits if it is a plain mean-pooled model, else None."""
    root = Path(folder)
    modules = _read_json(root / "modules.json")
    if not isinstance(modules, list) or not modules:
        return None
    types = [m.get("type") if isinstance(m, dict) else None for m in modules]
    if types not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
        return None
    transformer = root / str(modules[0].get("path", ""))
    config = _read_json(transformer / "sentence_bert_config.json")
    if config is None:
        config = {}
    if not isinstance(config, dict) or set(config) - _KNOWN_CONFIG or config.get("do_lower_case"):
        return None
    pooling = _read_json(root / str(modules[1].get("path", "")) / "config.json")
    if not isinstance(pooling, dict):
        return None
    modes = {name for name in _POOLING_MODES if pooling.get(name)}
    if modes != {"pooling_mode_mean_tokens"} or pooling.get("include_prompt") is False:
        return None
    dim = pooling.get("word_embedding_dimension")
    max_len = config.get("max_seq_length")
    if not isinstance(dim, int) or not (max_len is None or isinstance(max_len, int)):
        return None
    return PlainLayout(transformer=transformer, max_seq_length=max_len, dim=dim)

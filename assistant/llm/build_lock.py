"""One transformers model built at a time in this process.

`from_pretrained` is not safe in two threads at once: it builds modules on the meta
device through process-wide switches, and the chat model loaded while the warm-up thread
built the embedder came out with meta tensors ("Cannot copy out of meta tensor"; the
chat process aborted). Every model construction (the chat model, the embedder) holds
this lock; the work around it (GGUF conversion, packing, the embedder's checks) does not.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

MODEL_BUILD = threading.Lock()


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Build one model: alone (MODEL_BUILD) and without a progress bar. The bar's switch is
    process-wide too, so it is turned off inside the lock: turned off outside it, a build
    that finished first turned it back on while the next one waited, and the chat model's
    "Loading weights" bar broke into the terminal on a warm start."""
    with MODEL_BUILD, quiet_loading():
        yield


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bars (they land in logs and chat output); use it inside
    MODEL_BUILD (see `building`)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()

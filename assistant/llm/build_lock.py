"""One transformers model built at a time in this process.

`from_pretrained` is not safe in two threads at once: it builds modules on the meta
device through process-wide switches, and the chat model loaded while the warm-up thread
built the embedder came out with meta tensors ("Cannot copy out of meta tensor"; the
chat process aborted). Every model construction (the chat model, the embedder) holds
this lock; the work around it (GGUF conversion, packing, the embedder's checks) does not.
"""

from __future__ import annotations

import threading

MODEL_BUILD = threading.Lock()

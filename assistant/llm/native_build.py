"""Small C kernels built on this machine on first use and called through ctypes.

A kernel is compiled once per machine with the C compiler found on PATH (`$CC`, else
`cc`/`gcc`) with `-march=native`, cached under the user cache directory (keyed by the
source, flags, compiler and CPU), and loaded with ctypes. Where that fails (no compiler,
a CPU the source does not support), `function()` returns None, `status()` says why, and
callers keep torch's own kernels. `model.native_kernels = "off"` turns them all off.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared")


def cache_dir() -> Path:
    """Where built kernels live (`$ASSISTANT_NATIVE_DIR`, else the user cache directory)."""
    override = os.environ.get("ASSISTANT_NATIVE_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("purposeful-assistant")) / "native"


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_signature() -> str:
    """The CPU model and flags: -march=native builds are only valid on the same kind of CPU."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(lines))  # one of each: every core repeats them


def build(source: Path, cc: str, out_dir: Path) -> Path:
    """Compile `source` (or reuse an earlier build) and return the shared library's path.

    Raises RuntimeError with the compiler's first error line when the build fails.
    """
    text = source.read_bytes()
    key = hashlib.sha256(
        b"\0".join([text, " ".join(FLAGS).encode(), cc.encode(), _cpu_signature().encode()])
    ).hexdigest()[:16]
    target = out_dir / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: two processes starting at once never load half a file.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        done = subprocess.run(
            [cc, *FLAGS, "-o", tmp, str(source), "-lm"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            errors = [ln for ln in done.stderr.splitlines() if "error" in ln]
            first = errors[0][:200] if errors else f"exit status {done.returncode}"
            raise RuntimeError(f"{cc} failed: {first}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class NativeKernel:
    """One C function from one source file, built and loaded once per process."""

    def __init__(self, source: Path, symbol: str, argtypes: list[Any]) -> None:
        self.source, self.symbol, self.argtypes = source, symbol, argtypes
        self.wanted = True  # model.native_kernels != "off"
        self.tried = False
        self.reason: str | None = None  # why there is no kernel, once tried
        self._function: Any = None  # the ctypes function
        self._lock = threading.Lock()

    def _load(self) -> None:
        self.tried = True
        cc = compiler()
        if cc is None:
            self.reason = "no C compiler on PATH (set CC, or install gcc)"
            return
        try:
            path = build(self.source, cc, cache_dir())
            function = getattr(ctypes.CDLL(str(path)), self.symbol)
        except (OSError, RuntimeError, AttributeError, subprocess.SubprocessError) as exc:
            self.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.info("%s unavailable, torch's kernel runs instead: %s", self.source.name, self.reason)
            return
        function.argtypes = self.argtypes
        function.restype = ctypes.c_int
        self._function = function

    def configure(self, enabled: bool) -> str | None:
        """Turn the kernel on or off for this process; builds it now when on.

        Returns None when the kernel is in use, else why not (shown by `assistant doctor`).
        """
        with self._lock:
            self.wanted = enabled
            if enabled and not self.tried:
                self._load()
        return self.status()

    def status(self) -> str | None:
        """None when the kernel is in use, else the reason it is not."""
        if not self.wanted:
            return "turned off (model.native_kernels = off)"
        if not self.tried:
            return "not built yet"
        return self.reason

    def function(self) -> Any:
        """The ctypes function, or None (off, or it could not be built)."""
        if not self.wanted:
            return None
        if not self.tried:
            with self._lock:
                if not self.tried:
                    self._load()
        return self._function


def configure_all(enabled: bool) -> dict[str, str | None]:
    """Apply `model.native_kernels` to every kernel; builds them now when on.

    Returns each kernel's status: None when in use, else why not.
    """
    # Imported here: the kernel modules import this one.
    from assistant.llm import native_attention, native_int4

    kernels = {"attention": native_attention.KERNEL, "int4": native_int4.KERNEL}
    return {name: kernel.configure(enabled) for name, kernel in kernels.items()}

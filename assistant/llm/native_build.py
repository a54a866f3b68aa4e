"""Small C kernels built on this machine on first use and called through ctypes.

A kernel has one source per instruction set (`Variant`): the AVX-512 one built with
`-march=native` for the machine it runs on, the AVX2 one with explicit `-mavx2 -mfma
-mf16c` (it then runs on any AVX2 CPU, and on AVX-512 ones under `ASSISTANT_CPU_ISA=avx2`).
The first variant whose CPU flags `cpu_isa.flags()` has is compiled once with the C
compiler found on PATH (`$CC`, else `cc`/`gcc`), cached under the user cache directory
(keyed by the source, flags, compiler and, for `-march=native`, the CPU), and loaded with
ctypes. Off x86-64 nothing is compiled. Where no variant fits or the build fails (no
compiler), `function()` returns None, `status()` says why, and callers keep torch's own
kernels. `model.native_kernels = "off"` turns them all off.

This module knows no kernel: the kernel modules import it (`native_kernels` lists them).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from assistant.llm import cpu_isa

log = logging.getLogger(__name__)

FLAGS = ("-O3", "-fopenmp", "-fPIC", "-shared")
NATIVE = ("-march=native",)  # the AVX-512 sources: whatever this CPU has
AVX2 = ("-mavx2", "-mfma", "-mf16c")  # explicit, so the build runs on every AVX2 CPU


@dataclass(frozen=True)
class Variant:
    """One source of a kernel, for one instruction set."""

    isa: str  # shown by `assistant doctor`: "avx512", "avx2"
    source: Path
    needs: frozenset[str]  # CPU flags (cpu_isa.flags()) it needs
    arch: tuple[str, ...] = NATIVE  # compiler flags choosing the instruction set
    # More sources linked into the same library (this source calls their functions).
    extra: tuple[Path, ...] = ()

    def fits(self) -> bool:
        return self.needs <= cpu_isa.flags()


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


def build(
    source: Path,
    cc: str,
    out_dir: Path,
    arch: tuple[str, ...] = NATIVE,
    extra: tuple[Path, ...] = (),
) -> Path:
    """Compile `source` (and the `extra` sources, into one library) for `arch`, or reuse an
    earlier build; return the library's path.

    Raises RuntimeError with the compiler's first error line when the build fails.
    """
    text = b"\0".join(p.read_bytes() for p in (source, *extra))
    flags = (*FLAGS, *arch)
    # -march=native output is only valid on the same kind of CPU; explicit flags on any.
    cpu = _cpu_signature() if "-march=native" in arch else ""
    key = hashlib.sha256(
        b"\0".join([text, " ".join(flags).encode(), cc.encode(), cpu.encode()])
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
            [cc, *flags, "-o", tmp, str(source), *map(str, extra), "-lm"],
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
    """One C function, from the first of its sources the CPU can run, built and loaded once per process."""

    def __init__(
        self,
        symbol: str,
        argtypes: list[Any],
        variants: list[Variant],
        requires: Callable[[], str | None] | None = None,
    ) -> None:
        """`requires`: checked before building; returns why the kernel is of no use here, or None."""
        self.symbol, self.argtypes, self.variants = symbol, argtypes, variants
        self.requires = requires
        self.wanted = True  # model.native_kernels != "off"
        self.tried = False
        self.reason: str | None = None  # why there is no kernel, once tried
        self.variant: Variant | None = None  # the source in use, once built
        self._function: Any = None  # the ctypes function
        self._lock = threading.Lock()

    @property
    def isa(self) -> str | None:
        """The instruction set of the variant in use ("avx512", "avx2"), or None."""
        return self.variant.isa if self.variant is not None and self._function else None

    def _load(self) -> None:
        self.tried = True
        if not cpu_isa.is_x86():  # the sources are x86 intrinsics: no compile is attempted
            self.reason = f"no native kernel for {platform.machine()} (x86-64 only)"
            return
        if self.requires is not None and (unneeded := self.requires()) is not None:
            self.reason = unneeded
            return
        variant = next((v for v in self.variants if v.fits()), None)
        if variant is None:
            wanted = " or ".join("+".join(sorted(v.needs)) for v in self.variants)
            self.reason = f"the CPU lacks {wanted}"
            return
        cc = compiler()
        if cc is None:
            self.reason = "no C compiler on PATH (set CC, or install gcc)"
            return
        try:
            path = build(variant.source, cc, cache_dir(), variant.arch, variant.extra)
            function = getattr(ctypes.CDLL(str(path)), self.symbol)
        except (OSError, RuntimeError, AttributeError, subprocess.SubprocessError) as exc:
            self.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.info(
                "%s unavailable, torch's kernel runs instead: %s", variant.source.name, self.reason
            )
            return
        self.variant = variant
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

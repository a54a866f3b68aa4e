"""The CPU features the engine may use: the one place CPU flags are read.

Fast paths differ by instruction set: the Xeons' AVX-512 (with bf16 dot products and AMX)
and the AVX2 + FMA that nearly every x86 CPU of the last ten years has. `ASSISTANT_CPU_ISA`
makes the program act as if the CPU had less than it has, so the AVX2 paths can be run
and tested on an AVX-512 machine:

- unset or `native`: every flag the CPU reports;
- `avx2`: AVX-512, AMX and AVX-VNNI flags hidden (the AVX2 + FMA + F16C kernels run,
  `model.dtype = auto` decides as on an AVX2 CPU);
- `generic`: AVX and later hidden too (no native kernel; torch's kernels everywhere).

torch reads its own switch at import: `ATEN_CPU_CAPABILITY=avx2` (set by `make test`'s
AVX2 run and `bench/llm_speed.py --isa avx2`) keeps its kernels off AVX-512 as well.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

ENV = "ASSISTANT_CPU_ISA"
LEVELS = ("native", "avx2", "generic")
# Hidden by `avx2`: every AVX-512 extension, AMX, and the VEX-coded VNNI that comes with them.
_ABOVE_AVX2 = ("avx512", "amx", "avx_vnni", "avx_ifma", "avx_ne_convert")
# Hidden by `generic` as well.
_AVX = ("avx", "fma", "f16c")


def level() -> str:
    """The switch's value: `native`, `avx2` or `generic`. Raises ValueError for another."""
    value = os.environ.get(ENV, "").strip().lower() or "native"
    if value not in LEVELS:
        raise ValueError(f"{ENV}={value!r}: use one of {', '.join(LEVELS)} (or leave it unset)")
    return value


def is_x86() -> bool:
    """Whether this is an x86-64 CPU: the only kind the native kernels are written for."""
    return platform.machine().lower() in {"x86_64", "amd64"}


@functools.cache
def _reported() -> frozenset[str]:
    """The flags the CPU reports (Linux: /proc/cpuinfo; elsewhere none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):  # x86; ARM's line is "Features"
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def flags() -> frozenset[str]:
    """The CPU flags the program may use: the reported ones less what the switch hides."""
    reported = _reported()
    hidden: tuple[str, ...] = ()
    if level() == "avx2":
        hidden = _ABOVE_AVX2
    elif level() == "generic":
        hidden = _ABOVE_AVX2 + _AVX
    return frozenset(f for f in reported if not f.startswith(hidden))


def has(*names: str) -> bool:
    """Whether every named flag may be used (`has("avx2", "fma")`)."""
    return set(names) <= flags()


def bf16_units() -> bool:
    """Native bfloat16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    return bool(flags() & {"amx_bf16", "avx512_bf16"})


def describe() -> str:
    """One line for `assistant doctor`: the CPU class in use and why."""
    if not is_x86():
        return f"{platform.machine()}: no native kernels (x86 only; torch's kernels run)"
    if has("avx512f", "avx512_bf16"):
        name = "AVX-512 + BF16"
    elif has("avx2", "fma", "f16c"):
        name = "AVX2 + FMA"
    else:
        name = "no AVX2"
    forced = "" if level() == "native" else f" ({ENV}={level()})"
    return f"{name}{forced}"

"""Every native kernel, configured together: what `model.native_kernels` and `assistant doctor` act on.

The dependency runs one way: this module imports the kernel modules, they import
`native_build` (which knows no kernel).
"""

from __future__ import annotations

from assistant.llm import native_attention, native_int4, native_step
from assistant.llm.native_build import NativeKernel

KERNELS: dict[str, NativeKernel] = {
    "attention": native_attention.KERNEL,
    "int4": native_int4.KERNEL,
    "decode_step": native_step.KERNEL,
}


def configure_all(enabled: bool) -> dict[str, str | None]:
    """Apply `model.native_kernels` to every kernel; builds them now when on.

    Returns each kernel's status: None when in use, else why not.
    """
    return {name: kernel.configure(enabled) for name, kernel in KERNELS.items()}


def in_use() -> dict[str, str]:
    """The instruction set of each kernel in use ("avx512", "avx2"); kernels not in use are left out."""
    return {name: k.isa for name, k in KERNELS.items() if k.isa is not None and k.status() is None}

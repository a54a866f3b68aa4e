"""The CPU-feature switch and where each native path falls back: the same on every CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from assistant.llm import cpu_isa, native_attention, native_build
from assistant.llm.loader import pick_dtype
from assistant.llm.native_build import NativeKernel

XEON = frozenset(
    [
        "fpu",
        "sse2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512_bf16",
        "avx512_vnni",
        "amx_bf16",
        "amx_tile",
    ]
)
EPYC = frozenset(["fpu", "sse2", "avx", "avx2", "fma", "f16c", "bmi2"])


@pytest.fixture
def xeon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_isa, "_reported", lambda: XEON)
    monkeypatch.setattr(cpu_isa, "is_x86", lambda: True)


@pytest.mark.usefixtures("xeon")
def test_the_avx2_switch_hides_everything_above_avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpu_isa.ENV, raising=False)
    assert cpu_isa.has("avx512f") and cpu_isa.bf16_units()
    assert cpu_isa.describe() == "AVX-512 + BF16"
    monkeypatch.setenv(cpu_isa.ENV, "avx2")
    assert cpu_isa.flags() == XEON - {f for f in XEON if f.startswith(("avx512", "amx"))}
    assert cpu_isa.has("avx2", "fma", "f16c") and not cpu_isa.bf16_units()
    assert cpu_isa.describe() == f"AVX2 + FMA ({cpu_isa.ENV}=avx2)"
    # model.dtype = auto then decides as it does on an AVX2-only CPU
    assert pick_dtype("auto", torch.device("cpu")) == pick_dtype_on(EPYC, monkeypatch)
    monkeypatch.setenv(cpu_isa.ENV, "generic")
    assert not cpu_isa.has("avx2") and not cpu_isa.has("fma") and cpu_isa.has("sse2")


def pick_dtype_on(flags: frozenset[str], monkeypatch: pytest.MonkeyPatch) -> torch.dtype:
    with monkeypatch.context() as m:
        m.setattr(cpu_isa, "_reported", lambda: flags)
        m.delenv(cpu_isa.ENV, raising=False)
        return pick_dtype("auto", torch.device("cpu"))


def test_an_unknown_switch_value_says_what_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_isa.ENV, "avx3")
    with pytest.raises(ValueError, match="native, avx2, generic"):
        cpu_isa.flags()


@pytest.mark.usefixtures("xeon")
@pytest.mark.parametrize(("level", "isa"), [("native", "avx512"), ("avx2", "avx2")])
def test_each_kernel_picks_the_first_source_the_cpu_may_run(
    level: str, isa: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cpu_isa.ENV, level)
    chosen = next(v for v in native_attention.VARIANTS if v.fits())
    assert chosen.isa == isa
    assert ("-march=native" in chosen.arch) == (isa == "avx512")  # AVX2: explicit flags


def test_without_avx2_nothing_is_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_isa, "_reported", lambda: frozenset({"fpu", "sse2", "avx"}))
    monkeypatch.setattr(cpu_isa, "is_x86", lambda: True)
    kernel = _fresh(tmp_path, monkeypatch)
    assert kernel.configure(True) == "the CPU lacks avx512f or avx2+f16c+fma"
    assert kernel.function() is None and kernel.isa is None
    assert list(tmp_path.iterdir()) == []


def test_off_x86_nothing_is_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ARM64 machine: the x86 sources are never handed to its compiler."""
    monkeypatch.setattr(native_build.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(cpu_isa.platform, "machine", lambda: "aarch64")
    kernel = _fresh(tmp_path, monkeypatch)
    assert kernel.configure(True) == "no native kernel for aarch64 (x86-64 only)"
    assert list(tmp_path.iterdir()) == []  # the recording "compiler" never ran
    assert cpu_isa.describe().startswith("aarch64: no native kernels")
    # torch's kernel answers instead
    q, k, v = torch.randn(1, 9, 1, 64), torch.randn(1, 3, 20, 64), torch.randn(1, 3, 20, 64)
    monkeypatch.setattr(native_attention, "KERNEL", kernel)
    assert native_attention.attend(q, k, v, None, 0.125) is None


def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NativeKernel:
    """A kernel not built yet, whose "compiler" would leave a file in tmp_path if run."""
    recorder = tmp_path.parent / f"{tmp_path.name}-cc"
    recorder.write_text(f"#!/bin/sh\ntouch {tmp_path}/compiled\nexit 1\n")
    recorder.chmod(0o755)
    monkeypatch.setenv("CC", str(recorder))
    monkeypatch.setenv("ASSISTANT_NATIVE_DIR", str(tmp_path / "cache"))
    return NativeKernel("attention", native_attention.ARGTYPES, native_attention.VARIANTS)


@pytest.mark.skipif(shutil.which("gcc") is None or not cpu_isa.is_x86(), reason="needs gcc on x86")
def test_the_avx2_build_has_no_avx512_instruction(tmp_path: Path) -> None:
    """What runs on an AVX2-only CPU must not hold one AVX-512 (zmm) instruction."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("needs objdump (binutils)")
    import subprocess

    from assistant.llm import native_int4

    for variants in (native_attention.VARIANTS, native_int4.VARIANTS):
        avx2 = next(v for v in variants if v.isa == "avx2")
        built = native_build.build(avx2.source, "gcc", tmp_path, avx2.arch)
        text = subprocess.run([objdump, "-d", str(built)], capture_output=True, text=True).stdout
        assert "vfmadd" in text and "zmm" not in text

"""`assistant doctor`: check that everything the assistant needs is in place."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import dataclass

import click
from rich.console import Console
from rich.table import Table

from assistant.cli import app_context
from assistant.errors import AssistantError

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def run_checks(config_path: str | None = None) -> list[Check]:
    """Run every check; never raises for a failed check."""
    from assistant.bundled import default_chat_gguf, default_embedding_dir
    from assistant.config import load_settings
    from assistant.paths import data_dir

    checks = [Check("python", sys.version_info >= (3, 11), platform.python_version())]
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        checks.append(Check("torch", True, f"{torch.__version__} ({device})"))
    except ImportError:
        checks.append(Check("torch", False, "not installed; run `make run`"))
    for name, finder in (("chat model", default_chat_gguf), ("embedding model", default_embedding_dir)):
        try:
            checks.append(Check(name, True, str(finder())))
        except AssistantError as exc:
            checks.append(Check(name, False, str(exc)))
    try:
        loaded = load_settings(config_path)
        checks.append(Check("configuration", True, loaded.source))
        checks.append(_check_native_kernels(loaded.settings.model.native_kernels == "auto"))
        checks.append(_check_decode_path(loaded.settings.model.dtype))
    except AssistantError as exc:
        checks.append(Check("configuration", False, str(exc)))
    checks.extend(_check_threads())
    checks.append(_check_data_dir(data_dir()))
    checks.append(_check_memory_cap(data_dir()))
    from assistant.app import read_secrets

    secrets = read_secrets()
    values = (secrets.slack_bot_token, secrets.slack_app_token, secrets.slack_signing_secret)
    for var, value in zip(SLACK_VARS, values, strict=True):
        present = bool(value)
        checks.append(Check(var, True, "set" if present else "not set (Slack off)", required=False))
    return checks


def _check_native_kernels(wanted: bool) -> Check:
    """Which kernel source runs (AVX-512 or AVX2) for which CPU, or why torch's kernels do."""
    from assistant.llm import cpu_isa
    from assistant.llm.native_build import cache_dir
    from assistant.llm.native_kernels import configure_all, in_use

    reasons = configure_all(wanted)
    reasons.pop("decode_step", None)  # the AVX2 path's only: `decode path` says whether it runs
    cpu = f"CPU {cpu_isa.describe()}"
    missing = {name: why for name, why in reasons.items() if why is not None}
    if not missing:
        paths = ", ".join(f"{name} ({isa})" for name, isa in in_use().items())
        return Check("native kernels", True, f"{cpu}: {paths}; built in {cache_dir()}", required=False)
    detail = "; ".join(f"{name}: {why}" for name, why in missing.items())
    return Check("native kernels", False, f"{cpu}: {detail}; torch's kernels run", required=False)


def _check_decode_path(dtype: str) -> Check:
    """The dtype `model.dtype` gives on this CPU and what decode steps multiply with."""
    from assistant.llm import native_int4
    from assistant.llm.loader import cpu_has_bf16

    if dtype == "auto":
        picked = "bfloat16" if cpu_has_bf16() else "float32"
        why = "bf16 units (AVX512-BF16/AMX)" if picked == "bfloat16" else "no bf16 units"
        chosen = f"model.dtype auto -> {picked} ({why})"
    else:
        picked, chosen = dtype, f"model.dtype {dtype}"
    rows = native_int4.dtype()
    if rows is not None and str(rows).removeprefix("torch.") == picked:
        steps = f"int4 steps: native {native_int4.KERNEL.isa} kernel"
    elif picked == "bfloat16":
        steps = "int4 steps: torch's int4 kernel"
    else:
        steps = "decode steps: dense float32 (no native int4 kernel for it)"
    from assistant.llm import native_step

    why_not = native_step.KERNEL.status()
    if why_not is None and picked == "float32":
        steps += "; one-row steps: one native call per token (native_step_avx2.c)"
    else:
        steps += f"; one-row steps: torch ops per layer ({why_not or 'bfloat16 model'})"
    return Check("decode path", True, f"{chosen}; {steps}", required=False)


def _check_threads() -> list[Check]:
    """The OpenMP settings in force, and whether other programs keep the cores busy."""
    from assistant import runtime_env

    shown = [f"{s.name}={s.value} ({s.source})" for s in runtime_env.settings() if s.value is not None]
    try:
        import torch

        threads = f"torch {torch.get_num_threads()} threads"
    except ImportError:
        threads = "torch not installed"
    mode = "per request: the cores other programs leave free" if runtime_env.adaptive() else "fixed"
    checks = [Check("threads", True, f"{threads}, {mode}; " + (", ".join(shown) or "no OpenMP variables set"), required=False)]
    busy = runtime_env.machine_busy()
    if busy is not None:
        load, cores = busy
        if load >= 0.75 * cores:
            detail = (
                f"load average {load:.1f} on {cores} cores: other programs keep the CPU busy, so "
                "replies and summaries are slower (the assistant then runs fewer threads)"
            )
            checks.append(Check("machine load", False, detail, required=False))
        else:
            checks.append(Check("machine load", True, f"load average {load:.1f} on {cores} cores", required=False))
    return checks


def _check_data_dir(path: os.PathLike[str] | str) -> Check:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "data directory",
            False,
            f"{path} is not writable ({exc.strerror}); set ASSISTANT_HOME to a writable folder",
        )
    return Check("data directory", True, str(path))


def _check_memory_cap(path: os.PathLike[str] | str) -> Check:
    """Whether the profile cap has evicted facts (read from the state file, without opening Chroma)."""
    from memory.profile import EVICTION_RULE, cap_report

    report = cap_report(path)
    if not report:
        return Check("memory cap", True, "no facts evicted", required=False)
    return Check("memory cap", False, f"{report}. Rule: {EVICTION_RULE}", required=False)


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check Python, torch, bundled models, data directory, Slack tokens and config."""
    app = app_context(ctx)
    _ = app.loaded  # a broken config is one line and exit 2, before any check writes anything
    checks = run_checks(app.config_path)
    table = Table(title="assistant doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in checks:
        status = "ok" if check.ok else ("MISSING" if check.required else "warn")
        table.add_row(check.name, status, check.detail)
    Console(width=120).print(table)
    failed = [c for c in checks if c.required and not c.ok]
    if failed:
        click.echo(f"{len(failed)} required check(s) failed: " + ", ".join(c.name for c in failed), err=True)
        ctx.exit(1)

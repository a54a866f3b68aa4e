"""The `assistant` command: help stays light, doctor reports, bad config is one line + exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT", "SLACK_"))}
    full_env.update({"ASSISTANT_HOME": str(home), **env})
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=home.parent if home.parent.is_dir() else None,
        timeout=300,
    )


def test_help_lists_nouns_and_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from assistant.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'langgraph', 'sentence_transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ASSISTANT_HOME": str(tmp_path / "h")})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "doctor" in out.stdout
    assert not (tmp_path / "h").exists(), "--help must not write anything"


def test_console_script_and_module_both_work(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN / "assistant"), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "version" in out.stdout


def test_doctor_reports_each_check_and_succeeds_on_defaults(tmp_path: Path) -> None:
    out = run(["doctor"], tmp_path / "home")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("python", "torch", "chat model", "embedding model", "data directory", "configuration", "SLACK_BOT_TOKEN"):
        assert name in out.stdout
    assert "embedded defaults" in out.stdout


def test_doctor_says_which_cpu_path_runs_and_why(tmp_path: Path) -> None:
    import re

    def table(out: subprocess.CompletedProcess[str]) -> str:
        assert out.returncode == 0, out.stdout + out.stderr
        return re.sub(r"[│\s]+", " ", out.stdout)  # the table wraps long lines

    native = table(run(["doctor"], tmp_path / "home"))
    assert "native kernels" in native and "CPU " in native and "decode path" in native
    assert "model.dtype auto ->" in native
    generic = table(run(["doctor"], tmp_path / "home", ASSISTANT_CPU_ISA="generic"))
    assert "CPU no AVX2 (ASSISTANT_CPU_ISA=generic)" in generic
    assert "torch's kernels run" in generic and "dense float32" in generic
    assert "one-row steps: torch ops per layer" in generic
    from assistant.llm import cpu_isa

    if cpu_isa.is_x86() and cpu_isa.has("avx2", "fma", "f16c"):  # the AVX2 path, on any such CPU
        avx2 = table(run(["doctor"], tmp_path / "home", ASSISTANT_CPU_ISA="avx2"))
        assert "one-row steps: one native call per token" in avx2


def test_doctor_never_prints_token_values(tmp_path: Path) -> None:
    out = run(["doctor"], tmp_path / "home", SLACK_BOT_TOKEN="xoxb-very-secret-value")
    assert "xoxb-very-secret-value" not in out.stdout + out.stderr
    assert "set" in out.stdout


def test_doctor_exits_1_with_fix_when_data_dir_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = run(["doctor"], blocker / "home")
    assert out.returncode == 1
    assert "ASSISTANT_HOME" in out.stdout


def test_broken_config_is_one_line_exit_2_nothing_written(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[model]\ndtype = 'fp8'\n")
    home = tmp_path / "home"
    out = run(["--config", str(broken), "doctor"], home)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert str(broken) in lines[0] and "model.dtype" in lines[0] and "fp8" in lines[0]
    assert not home.exists()


def test_missing_config_file_is_one_line_exit_2(tmp_path: Path) -> None:
    out = run(["--config", str(tmp_path / "missing.toml"), "doctor"], tmp_path / "home")
    assert out.returncode == 2
    assert "does not exist" in out.stderr and len(out.stderr.strip().splitlines()) == 1

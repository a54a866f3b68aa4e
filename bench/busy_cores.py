"""`bench/llm_speed.py --busy`: OpenMP policies on a quiet machine and with one core busy.

The wait policy is read once, when the OpenMP runtime starts, so each policy gets a fresh
child process (this file run with `--child POLICY`). The child loads the engine and the
embedding model, then alternates quiet and busy phases; for a busy phase it starts a
process that spins on one core and stops it afterwards. Each phase measures chat decode
tokens/s, time to first token, background summaries per minute and memory query
latency. The parent runs the policies in turn (forward, then backward, so none always
goes first), and reports medians and each policy's ratio to the best one measured.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# name: (environment for the child, whether the child applies the assistant's defaults)
POLICIES: dict[str, tuple[dict[str, str], bool]] = {
    "new_default": ({}, True),
    "libgomp_default": ({}, False),  # what the assistant ran with before: nothing set
    "passive": ({"OMP_WAIT_POLICY": "passive"}, False),
    "active": ({"OMP_WAIT_POLICY": "active"}, False),
    "spin_2000": ({"GOMP_SPINCOUNT": "2000"}, False),
    "spin_20000": ({"GOMP_SPINCOUNT": "20000"}, False),
    "spin_200000": ({"GOMP_SPINCOUNT": "200000"}, False),
    "one_thread": ({"OMP_NUM_THREADS": "1"}, False),
}
OMP_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "MKL_NUM_THREADS")
HIGHER_IS_BETTER = {"decode_tok_s": True, "ttft_s": False, "summaries_per_min": True, "memory_p95_ms": False}
SPIN = "import time\nwhile True:\n    pass\n"


def _child(policy: str, rounds: int, tokens: int) -> None:
    """Runs in the fresh process: measure quiet and busy phases, print one JSON line."""
    sys.path.insert(0, str(ROOT))
    if POLICIES[policy][1]:
        from assistant import runtime_env

        runtime_env.apply_defaults()  # what the CLI does first thing, before torch loads
    import torch

    from assistant.config import Settings
    from assistant.llm.engine import load_engine
    from memory.embeddings import Embedder

    settings = Settings()
    system = settings.persona.system_prompt
    engine = load_engine(settings)
    embedder = Embedder()
    embedder.embed_one("warm-up query")
    story = [{"role": "system", "content": system},
             {"role": "user", "content": "Write a long story about a lighthouse keeper."}]  # fmt: skip
    article = (
        "Language models drift from their system prompt as a chat grows. The authors trace "
        "this to attention decay and propose split-softmax, a training-free fix."
    )
    engine.chat(story, max_new_tokens=4, temperature=0.0)  # warm-up: kernels built, pages in

    def phase(busy: bool, index: int) -> dict[str, float]:
        hog = None
        if busy:
            hog = subprocess.Popen([sys.executable, "-c", SPIN])
            time.sleep(2.5)  # the load watch sees it (2 s window)
        try:
            r = engine.chat(story, max_new_tokens=tokens, temperature=0.0)
            decode = float(r.extra["decode_tokens_per_s"])
            question = [{"role": "system", "content": system},
                        {"role": "user", "content": f"Question {index}: what is a good first step today?"}]  # fmt: skip
            ttft = engine.chat(question, max_new_tokens=1, temperature=0.0).time_to_first_token_s
            convs = [
                [{"role": "system", "content": system},
                 {"role": "user", "content": f"Summarise in one sentence (item {index}.{i}):\n{article}"}]
                for i in range(4)
            ]  # fmt: skip
            began = time.perf_counter()
            engine.chat_batch(convs, max_new_tokens=16, temperature=0.0, priority="background")
            per_min = len(convs) / (time.perf_counter() - began) * 60
            waits = []
            for q in range(12):
                began = time.perf_counter()
                embedder.embed_one(f"what did I say about project {index}-{q} ({busy}) last week?")
                waits.append(time.perf_counter() - began)
            p95 = statistics.quantiles(waits, n=20)[-1] * 1000  # (the 95th percentile)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        return {"decode_tok_s": decode, "ttft_s": ttft, "summaries_per_min": per_min, "memory_p95_ms": p95}

    runs: dict[str, list[dict[str, float]]] = {"quiet": [], "busy": []}
    for i in range(rounds):
        for name in ("quiet", "busy") if i % 2 == 0 else ("busy", "quiet"):
            runs[name].append(phase(name == "busy", i))
            if name == "busy":
                time.sleep(1.0)  # the spinner is gone before the next quiet phase
    out: dict[str, Any] = {
        "env": {k: os.environ[k] for k in OMP_VARS if k in os.environ},
        "torch_threads_at_start": torch.get_num_threads(),
    }
    for name, phases in runs.items():
        out[name] = {k: statistics.median([p[k] for p in phases]) for k in HIGHER_IS_BETTER}
    print("RESULT " + json.dumps(out), flush=True)


def _child_env(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env.update(POLICIES[policy][0])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_busy(policies: list[str], rounds: int, passes: int, tokens: int) -> dict[str, Any]:
    """Every policy in a fresh child, `passes` times (alternating order); medians and ratios."""
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    for n in range(passes):
        for policy in policies if n % 2 == 0 else list(reversed(policies)):
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--child", policy, str(rounds), str(tokens)],
                env=_child_env(policy), capture_output=True, text=True, cwd=ROOT, timeout=1800,
            )  # fmt: skip
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"policy {policy} failed:\n{done.stderr[-2000:]}")
            data = json.loads(lines[-1].removeprefix("RESULT "))
            data["child_s"] = round(time.perf_counter() - began, 1)
            results[policy].append(data)
            print(f"{policy} pass {n + 1}: {json.dumps(data)}", file=sys.stderr, flush=True)
    table: dict[str, Any] = {}
    for policy, runs in results.items():
        table[policy] = {"env": runs[0]["env"], "child_s": [r["child_s"] for r in runs]}
        for phase in ("quiet", "busy"):
            table[policy][phase] = {
                k: round(statistics.median([r[phase][k] for r in runs]), 3) for k in HIGHER_IS_BETTER
            }
    report: dict[str, Any] = {"policies": table, "rounds_per_child": rounds, "passes": passes,
                              "decode_tokens": tokens}  # fmt: skip
    if "new_default" in table:
        ratios: dict[str, Any] = {}
        for phase in ("quiet", "busy"):
            ratios[phase] = {}
            for k, higher in HIGHER_IS_BETTER.items():
                values = {p: t[phase][k] for p, t in table.items()}
                best_name = (max if higher else min)(values, key=values.__getitem__)
                mine = values["new_default"]
                ratios[phase][k] = {
                    "best_policy": best_name,
                    "new_vs_best": round(mine / values[best_name], 3) if values[best_name] else None,
                }
                if "libgomp_default" in values and values["libgomp_default"]:
                    ratios[phase][k]["new_vs_old_default"] = round(mine / values["libgomp_default"], 3)
        report["ratios"] = ratios
        busy, quiet = ratios["busy"], ratios["quiet"]
        report["targets"] = {
            "busy_decode_ge_0.9_best": busy["decode_tok_s"]["new_vs_best"] >= 0.9,
            "busy_ttft_le_1.2_best": busy["ttft_s"]["new_vs_best"] <= 1.2,
            "busy_summaries_ge_0.9_best": busy["summaries_per_min"]["new_vs_best"] >= 0.9,
            "busy_memory_p95_le_1.2_best": busy["memory_p95_ms"]["new_vs_best"] <= 1.2,
            "quiet_decode_ge_0.95_old_default": quiet["decode_tok_s"].get("new_vs_old_default", 0) >= 0.95,
        }
    return report


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--child":
    _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))

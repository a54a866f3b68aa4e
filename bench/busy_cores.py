"""`bench/llm_speed.py --busy`: OpenMP policies on a quiet machine and with one core busy.

The wait policy is read once, when the OpenMP runtime starts, so each policy gets its own
child process (this file run with `--child POLICY`). All children load the model first,
then take turns: the parent wakes one child (SIGCONT), lets it run one phase, and stops
it again (SIGSTOP), so a child never runs, spins or sleeps-while-spinning during another
child's measurement, and every policy sees the machine within seconds of the others.
For a busy phase the parent starts a process that spins on one core, and stops it after.
A phase measures chat decode tokens/s, time to first token, background summaries per
minute and memory query latency (p95). Phases go quiet, busy, busy, quiet, ... and the
policy order rotates each round.
"""

from __future__ import annotations

import json
import os
import signal
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
    # the assistant's per-request threads with other spin counts (the user's value wins)
    "new_spin_20000": ({"GOMP_SPINCOUNT": "20000"}, True),
    "new_spin_200000": ({"GOMP_SPINCOUNT": "200000"}, True),
    "libgomp_default": ({}, False),  # what the assistant ran with before: nothing set
    "passive": ({"OMP_WAIT_POLICY": "passive"}, False),
    "active": ({"OMP_WAIT_POLICY": "active"}, False),
    "spin_1000": ({"GOMP_SPINCOUNT": "1000"}, False),
    "spin_20000": ({"GOMP_SPINCOUNT": "20000"}, False),
    "one_thread": ({"OMP_NUM_THREADS": "1"}, False),
}
OMP_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "MKL_NUM_THREADS")
HIGHER_IS_BETTER = {"decode_tok_s": True, "ttft_s": False, "summaries_per_min": True, "memory_p95_ms": False}
SPIN = "import time\nwhile True:\n    pass\n"


def _child(policy: str, tokens: int) -> None:
    """Runs in the fresh process: load, say READY, then measure one phase per stdin line."""
    sys.path.insert(0, str(ROOT))
    if POLICIES[policy][1]:
        from assistant import runtime_env

        runtime_env.apply_defaults()  # what the CLI does first thing, before torch loads
    import torch

    from assistant.config import Settings
    from assistant.llm.base import Message
    from assistant.llm.engine import load_engine
    from memory.embeddings import Embedder

    settings = Settings()
    system = settings.persona.system_prompt
    engine = load_engine(settings)
    embedder = Embedder()
    embedder.embed_one("warm-up query")
    story: list[Message] = [{"role": "system", "content": system},
             {"role": "user", "content": "Write a long story about a lighthouse keeper."}]  # fmt: skip
    article = (
        "Language models drift from their system prompt as a chat grows. The authors trace "
        "this to attention decay and propose split-softmax, a training-free fix."
    )
    engine.chat(story, max_new_tokens=4, temperature=0.0)  # warm-up: kernels built, pages in

    def phase(tag: str) -> dict[str, float]:
        r = engine.chat(story, max_new_tokens=tokens, temperature=0.0)
        decode = float(r.extra["decode_tokens_per_s"])
        question: list[Message] = [{"role": "system", "content": system},
                    {"role": "user", "content": f"Question {tag}: what is a good first step today?"}]  # fmt: skip
        ttft = engine.chat(question, max_new_tokens=1, temperature=0.0).time_to_first_token_s
        convs: list[list[Message]] = [
            [{"role": "system", "content": system},
             {"role": "user", "content": f"Summarise in one sentence (item {tag}.{i}):\n{article}"}]
            for i in range(4)
        ]  # fmt: skip
        began = time.perf_counter()
        engine.chat_batch(convs, max_new_tokens=16, temperature=0.0, priority="background")
        per_min = len(convs) / (time.perf_counter() - began) * 60
        waits = []
        for q in range(12):  # new texts each time: the embedder caches repeated queries
            began = time.perf_counter()
            embedder.embed_one(f"what did I say about project {tag}-{q} last week?")
            waits.append(time.perf_counter() - began)
        p95 = statistics.quantiles(waits, n=20)[-1] * 1000  # the 95th percentile
        return {"decode_tok_s": decode, "ttft_s": ttft, "summaries_per_min": per_min, "memory_p95_ms": p95,
                "torch_threads": float(engine.gate.run(torch.get_num_threads))}  # fmt: skip

    env = {k: os.environ[k] for k in OMP_VARS if k in os.environ}
    print("READY " + json.dumps(env), flush=True)
    for line in sys.stdin:
        tag = line.strip()
        if not tag:
            break
        print("RESULT " + json.dumps(phase(tag)), flush=True)


def _child_env(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env.update(POLICIES[policy][0])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def _read(child: subprocess.Popen[str], prefix: str) -> str:
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(prefix):
            return line[len(prefix) :]
    raise RuntimeError(f"a policy child ended early (exit {child.wait()}); run it alone to see why")


def run_busy(policies: list[str], rounds: int, tokens: int, settle_s: float = 2.5) -> dict[str, Any]:
    """All policies loaded at once, measured in turns; medians per phase and ratios to the best."""
    children: dict[str, subprocess.Popen[str]] = {}
    envs: dict[str, Any] = {}
    runs: dict[str, dict[str, list[dict[str, float]]]] = {p: {"quiet": [], "busy": []} for p in policies}
    began = time.perf_counter()
    try:
        for policy in policies:  # one load at a time, then frozen until its turn
            child = subprocess.Popen(
                [sys.executable, __file__, "--child", policy, str(tokens)],
                env=_child_env(policy), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            children[policy] = child
            envs[policy] = json.loads(_read(child, "READY "))
            child.send_signal(signal.SIGSTOP)
        order = list(policies)
        for r in range(rounds):
            for phase in ("quiet", "busy") if r % 2 == 0 else ("busy", "quiet"):
                for policy in order:
                    child = children[policy]
                    hog = subprocess.Popen([sys.executable, "-c", SPIN]) if phase == "busy" else None
                    child.send_signal(signal.SIGCONT)
                    time.sleep(settle_s)  # the child's load watch sees the machine as it is now
                    try:
                        assert child.stdin is not None
                        child.stdin.write(f"{r}-{phase}\n")
                        child.stdin.flush()
                        result = json.loads(_read(child, "RESULT "))
                    finally:
                        if hog is not None:
                            hog.kill()
                            hog.wait()
                    child.send_signal(signal.SIGSTOP)
                    runs[policy][phase].append(result)
                    print(f"round {r} {phase} {policy}: {json.dumps(result)}", file=sys.stderr, flush=True)
            order = order[1:] + order[:1]
    finally:
        for child in children.values():
            child.send_signal(signal.SIGCONT)
            if child.stdin is not None:
                child.stdin.close()
        for child in children.values():
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
    table: dict[str, Any] = {}
    for policy in policies:
        table[policy] = {"env": envs[policy]}
        for phase in ("quiet", "busy"):
            measured = runs[policy][phase]
            table[policy][phase] = {
                k: round(statistics.median([m[k] for m in measured]), 3) for k in (*HIGHER_IS_BETTER, "torch_threads")
            }
    report: dict[str, Any] = {"policies": table, "rounds": rounds, "decode_tokens": tokens,
                              "wall_s": round(time.perf_counter() - began, 1)}  # fmt: skip
    if "new_default" in table:
        report["ratios"] = ratios = _ratios(table)
        busy, quiet = ratios["busy"], ratios["quiet"]
        report["targets"] = {
            "busy_decode_ge_0.9_best": busy["decode_tok_s"]["new_vs_best"] >= 0.9,
            "busy_ttft_le_1.2_best": busy["ttft_s"]["new_vs_best"] <= 1.2,
            "busy_summaries_ge_0.9_best": busy["summaries_per_min"]["new_vs_best"] >= 0.9,
            "busy_memory_p95_le_1.2_best": busy["memory_p95_ms"]["new_vs_best"] <= 1.2,
            "quiet_decode_ge_0.95_old_default": quiet["decode_tok_s"].get("new_vs_old_default", 0) >= 0.95,
        }
    return report


def _ratios(table: dict[str, Any]) -> dict[str, Any]:
    """new_default against the best policy of each measure, and against libgomp's default."""
    out: dict[str, Any] = {}
    for phase in ("quiet", "busy"):
        out[phase] = {}
        for k, higher in HIGHER_IS_BETTER.items():
            values = {p: t[phase][k] for p, t in table.items()}
            best = (max if higher else min)(values, key=values.__getitem__)
            mine = values["new_default"]
            # ratios read "new / best": >= 1 is good for rates, <= 1 for times
            out[phase][k] = {"best_policy": best, "new_vs_best": round(mine / values[best], 3)}
            if values.get("libgomp_default"):
                out[phase][k]["new_vs_old_default"] = round(mine / values["libgomp_default"], 3)
    return out


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    _child(sys.argv[2], int(sys.argv[3]))

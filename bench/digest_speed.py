"""Summarise N arXiv-like abstracts and build the digest; batched vs sequential. Prints JSON.

    .venv/bin/python bench/digest_speed.py                # 200 items, both modes
    .venv/bin/python bench/digest_speed.py --items 24     # a quicker run

Abstracts come from templates below (varied topics, methods and results), so the run
needs no network. Each mode gets a fresh data directory with the real memory store and
the real default model (loaded once and shared by both modes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOPICS = [
    (
        "reinforcement learning",
        ["policy gradients", "offline Q-learning", "reward models", "exploration bonuses"],
    ),
    (
        "language models",
        ["instruction tuning", "retrieval augmentation", "long-context attention", "tokenisation"],
    ),
    (
        "computer vision",
        [
            "self-supervised pretraining",
            "object detection",
            "video segmentation",
            "depth estimation",
        ],
    ),
    (
        "graph learning",
        ["message passing", "graph transformers", "link prediction", "molecular graphs"],
    ),
    (
        "optimisation",
        [
            "adaptive step sizes",
            "second-order methods",
            "sharpness-aware training",
            "federated averaging",
        ],
    ),
    (
        "speech",
        ["streaming recognition", "speaker diarisation", "text-to-speech", "keyword spotting"],
    ),
    (
        "robotics",
        ["sim-to-real transfer", "grasp planning", "legged locomotion", "imitation learning"],
    ),
    (
        "fairness",
        ["demographic parity", "counterfactual explanations", "bias audits", "calibration"],
    ),
]
OPENERS = [
    "We study {m} for {t}.",
    "This paper revisits {m} in the context of {t}.",
    "{M} remains a central challenge in {t}.",
    "We introduce a new approach to {m}, a key problem in {t}.",
    "Recent work on {t} has relied heavily on {m}.",
]
METHODS = [
    "Our method combines a lightweight {a} with a {b} objective, trained end to end.",
    "We propose {a}, which replaces the usual {b} with a learned alternative.",
    "The key idea is to decouple {a} from {b}, which makes training stable at scale.",
    "We derive a simple {a} that provably bounds the {b} under mild assumptions.",
]
PARTS_A = [
    "encoder",
    "critic",
    "scheduler",
    "memory module",
    "gating network",
    "regulariser",
    "sampler",
]
PARTS_B = ["contrastive", "variance", "ranking", "consistency", "distillation", "entropy"]
RESULTS = [
    "On {n} benchmarks it improves accuracy by {p} points while using {x} times less compute.",
    "Experiments on {n} datasets show gains of {p}% over strong baselines.",
    "It matches the state of the art on {n} tasks with {x} times fewer parameters.",
    "Across {n} settings it reduces error by {p}% and halves training time.",
]
CLOSERS = [
    "We release code and models.",
    "We discuss limitations and directions for future work.",
    "Ablations show that each component contributes to the final result.",
    "Our analysis explains when and why the method fails.",
]


def make_papers(n: int, owner: str, *, seed: int = 7, prefix: str = "2611") -> list[Any]:
    """N arXiv-like items with varied, templated abstracts."""
    from memory.types import Item

    rng = random.Random(seed)
    now = time.time()
    papers = []
    for i in range(n):
        topic, methods = TOPICS[i % len(TOPICS)]
        method = rng.choice(methods)
        text = " ".join(
            [
                rng.choice(OPENERS).format(m=method, M=method[:1].upper() + method[1:], t=topic),
                rng.choice(METHODS).format(a=rng.choice(PARTS_A), b=rng.choice(PARTS_B)),
                rng.choice(RESULTS).format(
                    n=rng.randint(3, 12), p=rng.randint(2, 15), x=rng.randint(2, 8)
                ),
                rng.choice(CLOSERS),
            ]
        )
        title = f"{method[:1].upper() + method[1:]} for {topic}: a {rng.choice(PARTS_B)} {rng.choice(PARTS_A)}"
        papers.append(
            Item(
                id=f"arxiv:{prefix}.{i:05d}",
                owner=owner,
                source="arxiv",
                title=title,
                text=text,
                url=f"https://arxiv.org/abs/{prefix}.{i:05d}",
                published=now - rng.uniform(0, 36 * 3600),
                categories=("cs.LG",),
            )
        )
    return papers


def run_mode(settings: Any, engine: Any, n: int, *, batched: bool) -> dict[str, Any]:
    """Fresh data dir + store, summarise n items, build the digest; timings."""
    from assistant.background.digest import build_digest, today
    from assistant.background.summarise import summarise_pending
    from memory.store import open_store

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as home:
        os.environ["ASSISTANT_HOME"] = home
        with open_store(settings, path=Path(home) / "chroma") as store:
            owner = settings.feeds.owner
            t0 = time.perf_counter()
            store.items.upsert(make_papers(n, owner))
            ingest_s = time.perf_counter() - t0
            store.profile.remember(
                owner, "I am interested in reinforcement learning", kind="interest"
            )
            t0 = time.perf_counter()
            report = summarise_pending(settings, store, engine, user_id=owner, batched=batched)
            summarise_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = build_digest(settings, store, day=today(settings), user_id=owner, post=False)
            digest_s = time.perf_counter() - t0
            sample = [it.summary for it in store.items.list(owner, limit=3)]
    total = summarise_s + digest_s
    return {
        "summarised": report.summarised,
        "fallback_summaries": report.fallback,
        "ingest_s": round(ingest_s, 2),
        "summarise_s": round(summarise_s, 2),
        "digest_s": round(digest_s, 2),
        "minutes": round(total / 60, 2),
        "items_per_min": round(report.summarised / (summarise_s / 60), 1) if summarise_s else None,
        "digest_items": len(result.digest.items),
        "sample_summaries": sample,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, default=200, help="abstracts to summarise (default 200)"
    )
    parser.add_argument(
        "--modes", default="batched,sequential", help="comma list: batched,sequential"
    )
    parser.add_argument(
        "--batch", type=int, default=0, help="batch size (default: digest.summary_batch)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=0, help="summary budget (default: config)"
    )
    parser.add_argument(
        "--model-cache", default="", help="converted-model folder to reuse (default: a temp dir)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    import torch

    from assistant.config import Settings
    from assistant.llm.engine import load_engine

    digest: dict[str, Any] = {}
    if args.batch:
        digest["summary_batch"] = args.batch
    if args.max_new_tokens:
        digest["summary_max_tokens"] = args.max_new_tokens
    settings = Settings(digest=digest)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="digest-bench-models-") as tmp_cache:
        t0 = time.perf_counter()
        engine = load_engine(settings, cache_dir=Path(args.model_cache or tmp_cache))
        load_s = time.perf_counter() - t0
        out: dict[str, Any] = {
            "bench": "digest_speed",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "items": args.items,
            "summary_batch": settings.digest.summary_batch,
            "summary_max_tokens": settings.digest.summary_max_tokens,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "model_load_s": round(load_s, 2),
        }
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            out[mode] = run_mode(settings, engine, args.items, batched=mode == "batched")
            print(f"{mode}: {out[mode]['minutes']} min", file=sys.stderr)
    if "batched" in out and "sequential" in out:
        b, s = out["batched"]["summarise_s"], out["sequential"]["summarise_s"]
        out["batched_speedup"] = round(s / b, 2) if b else None
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

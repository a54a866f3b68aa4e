"""Measure the drift-control trade-off on the configured (default) model.

Runs the full comparison grid (none; split-softmax k = 0.25/0.5/0.75 on both spans;
system-prompt repetition; classifier-free guidance g = 1.5) with greedy decoding, saves
the run like `assistant probe run` does, and prints the README table.

    .venv/bin/python bench/probe_tradeoff.py --cases 24 --rounds 4 --max-new-tokens 48
"""

from __future__ import annotations

import argparse
import sys
import time

from assistant.config import load_settings
from assistant.probes.benchmark import run_benchmark
from assistant.probes.history import save_run
from assistant.probes.report import curve_table, family_table, tradeoff_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=24, help="suite cases (the persona probe comes on top)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--controls", nargs="*", default=["all"])
    parser.add_argument("--no-persona", action="store_true")
    args = parser.parse_args(argv)

    from assistant.llm.engine import shared_engine

    settings = load_settings().settings
    engine = shared_engine(settings)
    t0 = time.perf_counter()

    def progress(what: str, done: int, total: int) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {done:3}/{total} {what}", file=sys.stderr, flush=True)

    command = "python bench/probe_tradeoff.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = run_benchmark(
        settings, engine, controls=args.controls, cases=args.cases, rounds=args.rounds,
        max_new_tokens=args.max_new_tokens, seed=args.seed, persona=not args.no_persona,
        command=command.strip(), progress=progress,
    )  # fmt: skip
    files = save_run(record)
    o = record["options"]
    print(f"model {record['model']}; {len(record['cases'])} cases; rounds {o['rounds']}; "
          f"samples {o['effective_samples']} ({o['decoding']}); seed {o['seed']}; {record['seconds']:.0f} s")  # fmt: skip
    print(f"command: {command}\n")
    print(tradeoff_table(record), "\n", curve_table(record), "\n", family_table(record), sep="\n")
    print("\n" + "\n".join(f"{k}: {v}" for k, v in files.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

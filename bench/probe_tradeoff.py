"""Measure the drift-control trade-off on the configured (default) model.

Runs the comparison grid (none; split-softmax k = 0.25/0.5/0.75 on both spans;
system-prompt repetition; classifier-free guidance g = 1.5) with greedy decoding on the
same seeded cases, and saves the record after every control (so a run cut short still
leaves its finished controls), then prints the README tables.

    .venv/bin/python bench/probe_tradeoff.py --drift --cases 0 --rounds 8 --max-new-tokens 24 \
        --partner-tokens 16 --probe-tokens 16 --general-tokens 16 --threads 1 --controls none ...

The record is rewritten after every control. `--resume A.json [B.json ...]` reloads the
finished controls of earlier records (same cases, seed and budgets required) and runs
only the missing ones; with nothing left to run it merges them into one record, so the
grid can be split over several processes (one control list each) and joined afterwards.
Each control's CPU seconds are kept in the record: on a shared machine they say more
about cost than wall time.

New cases for an earlier grid: `--skip-cases-in OLD.json` runs only the selected cases
that OLD.json does not hold; `--pool OLD.json NEW.json` then joins records of the same
options on disjoint cases into one record (controls present in both) and prints its
tables, without loading the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from assistant.config import Settings, load_settings
from assistant.errors import ProbeError
from assistant.probes.benchmark import (
    build_record,
    model_name,
    options_from,
    pick_cases,
    pool_records,
    runs_from_record,
)
from assistant.probes.controls import default_control, parse_controls
from assistant.probes.history import load_run, save_run
from assistant.probes.report import (
    curve_table,
    drift_table,
    family_table,
    gain_table,
    tradeoff_table,
)
from assistant.probes.runner import ControlRun, RunOptions, run_controls
from assistant.probes.suite import DRIFT_FAMILIES, load_general, load_partners

# most informative first, so a run cut short still answers the main question
ORDER = (
    "none",
    "split_softmax:k=0.5,span=turn",
    "split_softmax:k=0.5,span=text",
    "repeat_system",
    "cfg:g=1.5",
    "split_softmax:k=0.25,span=turn",
    "split_softmax:k=0.75,span=turn",
    "split_softmax:k=0.25,span=text",
    "split_softmax:k=0.75,span=text",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--cases", type=int, default=24, help="suite cases (0 = all; the persona probe comes on top)"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--partner-tokens", type=int, default=None, help="agent B reply budget")
    parser.add_argument("--general-tokens", type=int, default=None, help="general-ability answer budget")
    parser.add_argument("--probe-tokens", type=int, default=None, help="probe answer budget")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--controls", nargs="*", default=list(ORDER))
    parser.add_argument("--family", action="append", default=[], help="only these case families (repeatable)")
    parser.add_argument("--drift", action="store_true", help="only the drift-sensitive families: " + ", ".join(DRIFT_FAMILIES))
    parser.add_argument("--batch-size", type=int, default=None, help="conversations per forward batch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--resume", type=Path, nargs="+", default=[],
                        help="records of this command to finish or merge (e.g. from two workers)")
    parser.add_argument("--skip-cases-in", type=Path, nargs="+", default=[],
                        help="leave out cases already scored in these records (new cases for an earlier grid)")
    parser.add_argument("--pool", type=Path, nargs="+", default=[],
                        help="join finished records made on disjoint cases (same options) into one and report it")
    parser.add_argument("--no-persona", action="store_true")
    parser.add_argument("--no-general", action="store_true")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="converted-weights cache to reuse"
    )
    args = parser.parse_args(argv)

    from assistant.llm.engine import load_engine

    settings = load_settings().settings
    if args.pool:
        return pool(args.pool, settings, "python bench/probe_tradeoff.py " + " ".join(argv or sys.argv[1:]))
    if args.threads:
        settings = settings.model_copy(update={"model": settings.model.model_copy(update={"threads": args.threads})})
    opts = options_from(
        settings, rounds=args.rounds, max_new_tokens=args.max_new_tokens, seed=args.seed,
        partner_max_new_tokens=args.partner_tokens, general_max_new_tokens=args.general_tokens,
        probe_max_new_tokens=args.probe_tokens, batch_size=args.batch_size,
    )  # fmt: skip
    controls = parse_controls(args.controls, settings)
    families = list(args.family) + (list(DRIFT_FAMILIES) if args.drift else [])
    cases = pick_cases(settings, families=families, limit=args.cases or None, persona=not args.no_persona, seed=opts.seed)
    if args.skip_cases_in:
        done_ids = {c["id"] for path in args.skip_cases_in for c in load_run(path)["cases"]}
        cases = [c for c in cases if c.id not in done_ids]
        if not cases:
            parser.error("every selected case is already in the --skip-cases-in records; nothing to run")
        print(f"{len(cases)} cases not in the earlier records", file=sys.stderr)
    runs: list[ControlRun] = []
    record: dict = {}
    for path in args.resume:
        earlier = load_run(path)
        was = earlier["options"]
        now = {"rounds": opts.rounds, "seed": opts.seed, "max_new_tokens": opts.max_new_tokens,
               "partner_max_new_tokens": opts.partner_max_new_tokens or opts.max_new_tokens,
               "probe_max_new_tokens": opts.probe_max_new_tokens or opts.max_new_tokens}  # fmt: skip
        differ = [k for k, v in now.items() if was.get(k, v) != v]
        if differ:
            parser.error(f"{path} was run with other {', '.join(differ)}; pass the same options or start anew")
        record = record or earlier  # the first record's id and date carry on
        runs += [r for r in runs_from_record(earlier, cases, settings) if r.control.label not in
                 {x.control.label for x in runs}]  # fmt: skip
    if args.resume:
        done = {r.control.label for r in runs}
        controls = [c for c in controls if c.label not in done]
        print(f"resuming {record['id']}: {len(done)} controls done, {len(controls)} to go", file=sys.stderr)
    general = None if args.no_general else load_general()
    engine = load_engine(settings, cache_dir=args.cache_dir) if controls else None
    command = "python bench/probe_tradeoff.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    started = datetime.fromisoformat(record["date"]) if record else datetime.now(UTC)
    t0 = time.perf_counter()

    def progress(what: str, done: int, total: int) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {what}", file=sys.stderr, flush=True)

    model = record.get("model") or model_name(settings, engine)  # type: ignore[arg-type]
    # CPU seconds per control: wall time on a shared machine says little, CPU time travels
    cpu = {c["label"]: c["cpu_seconds"] for path in args.resume for c in load_run(path)["controls"]
           if "cpu_seconds" in c}  # fmt: skip

    def save() -> dict:
        previous_id = record.get("id")
        new = build_record(runs, opts, kind="bench", model=model, command=command,
                           headline=default_control(settings).label, started=started)  # fmt: skip
        if previous_id:
            new["id"] = previous_id  # one record, rewritten as controls finish
        for c in new["controls"]:
            if c["label"] in cpu:
                c["cpu_seconds"] = cpu[c["label"]]
        files = save_run(new)
        print(f"[{time.perf_counter() - t0:7.1f}s] saved {files['json']} ({len(runs)} controls)",
              file=sys.stderr, flush=True)  # fmt: skip
        return new

    for control in controls:
        assert engine is not None
        cpu0 = time.process_time()
        runs += run_controls(engine, cases, [control], opts, partners=load_partners(), general=general,
                             progress=progress)  # fmt: skip
        cpu[control.label] = round(time.process_time() - cpu0, 1)
        record = save()
    if not controls:
        record = save()  # merged from earlier records only
    o = record["options"]
    print(f"model {record['model']}; {len(record['cases'])} cases; rounds {o['rounds']}; "
          f"samples {o['effective_samples']} ({o['decoding']}); seed {o['seed']}; {record['seconds']:.0f} s")  # fmt: skip
    print(f"command: {command}\n")
    print_tables(record)
    return 0


def print_tables(record: dict) -> None:
    print(tradeoff_table(record), gain_table(record), curve_table(record), drift_table(record), family_table(record),
          sep="\n\n")
    print("\n" + "\n".join(f"{k}: {v}" for k, v in record["files"].items()))


def pool(paths: list[Path], settings: Settings, command: str) -> int:
    """Join records of the same command on disjoint cases (see `pool_records`) and report them."""
    records = [load_run(p) for p in paths]
    try:
        runs, dropped = pool_records(records, settings)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if dropped:
        print(f"left out (not in every record): {', '.join(dropped)}", file=sys.stderr)
    o = records[0]["options"]
    opts = RunOptions(rounds=o["rounds"], samples=o["samples"], seed=o["seed"], temperature=o["temperature"],
                      max_new_tokens=o["max_new_tokens"], partner_max_new_tokens=o["partner_max_new_tokens"],
                      probe_max_new_tokens=o["probe_max_new_tokens"],
                      general_max_new_tokens=o["general_max_new_tokens"])  # fmt: skip
    started = min(datetime.fromisoformat(r["date"]) for r in records)
    record = build_record(runs, opts, kind="bench", model=records[0]["model"], command=command,
                          headline=default_control(settings).label, started=started)  # fmt: skip
    cpu: dict[str, float] = {}
    for rec in records:
        for c in rec["controls"]:
            if "cpu_seconds" in c:
                cpu[c["label"]] = cpu.get(c["label"], 0.0) + c["cpu_seconds"]
    for c in record["controls"]:
        if c["label"] in cpu:
            c["cpu_seconds"] = round(cpu[c["label"]], 1)
    record["pooled_from"] = [{"id": r["id"], "cases": len(r["cases"]), "command": r.get("command", "")}
                             for r in records]  # fmt: skip
    record["files"] = save_run(record)
    print(f"pooled {len(records)} records: {len(record['cases'])} cases; rounds {o['rounds']}; seed {o['seed']}")
    print(f"command: {command}\n")
    print_tables(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

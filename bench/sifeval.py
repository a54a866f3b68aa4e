"""S-IFEval over many rounds: do system-prompt constraints hold, per drift control? Prints JSON.

Each item's constraints sit in the system message; after N rounds of everyday requests
(answered by the model under the control) the item's task is asked and IFEval's checkers
judge the reply, strict and loose, per prompt and per instruction. Greedy decoding; the
same items, filler and seeds for every control, so deltas are paired by item.

    nice -n 10 .venv/bin/python bench/sifeval.py --rounds 0 8 --controls none split_softmax \
        repeat_system cfg:g=1.5 --types change_case:english_lowercase --out docs/probes/x.json

The record is rewritten after every control (a run cut short keeps what finished);
`--merge A.json B.json` joins records of the same items and options (controls run in
separate processes) and prints the combined summary without loading the model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.config import load_settings
from assistant.probes.controls import default_control, parse_controls
from assistant.probes.sifeval import (
    Options,
    load_items,
    run_control,
    sample_items,
    summarise,
    to_cases_toml,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sifeval" / "sifeval-dev.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="S-IFEval JSONL (default: the shared dev file)")
    parser.add_argument("--keys", type=int, nargs="*", default=[], help="only these item keys")
    parser.add_argument("--limit", type=int, default=0, help="seeded sample of this many items (0 = all)")
    parser.add_argument("--types", nargs="*", default=[], help="keep items whose every instruction id is listed")
    parser.add_argument("--rounds", type=int, nargs="+", default=[0, 8], help="N values (filler rounds before the task)")
    parser.add_argument("--controls", nargs="+", default=["none", "split_softmax", "repeat_system", "cfg:g=1.5"])
    parser.add_argument("--filler-tokens", type=int, default=16, help="reply budget for filler rounds")
    parser.add_argument("--task-tokens", type=int, default=64, help="reply budget for the task")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, default=None, help="record file, rewritten after every control")
    parser.add_argument("--export-toml", type=Path, default=None,
                        help="write the selected items as probe cases (family sifeval) and exit, no model")
    parser.add_argument("--tables", type=Path, default=None, help="print a saved record's Markdown tables, no model")
    parser.add_argument("--merge", type=Path, nargs="+", default=[], help="records to join (no model run)")
    args = parser.parse_args(argv)
    command = "python bench/sifeval.py " + " ".join(argv if argv is not None else sys.argv[1:])

    settings = load_settings().settings
    if args.tables:
        print_tables(json.loads(args.tables.read_text()), args.data)
        return 0
    if args.merge:
        record = merge([json.loads(p.read_text()) for p in args.merge], args.data, command)
        if args.out:
            args.out.write_text(json.dumps(record, indent=1))
        print(json.dumps({k: v for k, v in record.items() if k != "runs"}, indent=1))
        return 0
    if args.threads:
        settings = settings.model_copy(update={"model": settings.model.model_copy(update={"threads": args.threads})})
    loaded = load_items(args.data, types=args.types)
    pool = [it for it in loaded.items if it.key in set(args.keys)] if args.keys else loaded.items
    items = sample_items(pool, args.limit or None, args.seed)
    if args.export_toml:
        header = (f"S-IFEval items as probe cases ({command}).\nItems: Mu et al. 2025, arXiv 2502.12197, MIT "
                  "(sifeval.LICENSE beside this file); derived from IFEval, Apache-2.0.")  # fmt: skip
        args.export_toml.write_text(to_cases_toml(items, max_new_tokens=args.task_tokens, header=header))
        print(json.dumps({"written": str(args.export_toml), "cases": len(items), "dropped": loaded.dropped}))
        return 0
    opts = Options(rounds=tuple(sorted(set(args.rounds))), filler_tokens=args.filler_tokens,
                   task_tokens=args.task_tokens, batch_size=args.batch_size, seed=args.seed)  # fmt: skip
    controls = parse_controls(args.controls, settings)

    from assistant.llm.engine import load_engine  # slow import: only when a model runs

    engine = load_engine(settings)
    t0 = time.perf_counter()

    def progress(what: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {what}", file=sys.stderr, flush=True)

    record: dict[str, Any] = {
        "kind": "sifeval", "date": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
        "data": str(args.data), "dropped": loaded.dropped, "selected_of": len(loaded.items),
        "items": [it.key for it in items], "options": opts.__dict__ | {"rounds": list(opts.rounds)},
        "model": settings.model.path or "SmolLM2-135M-Instruct (bundled GGUF)",
        "default_control": default_control(settings).label, "runs": [],
    }  # fmt: skip
    for control in controls:
        record["runs"].append(run_control(engine, items, control, opts, progress))
        record["summary"] = summarise(record["runs"], items, opts.rounds, opts.seed)
        if args.out:
            args.out.write_text(json.dumps(record, indent=1))
            progress(f"saved {args.out} ({len(record['runs'])} controls)")
    print(json.dumps({k: v for k, v in record.items() if k != "runs"}, indent=1))
    return 0


def print_tables(record: dict[str, Any], data: Path) -> None:
    """The README tables: per control and N, per type, and how many passes echo the prompt."""
    from assistant.probes.sifeval_report import (
        ANCHORS,
        decision_table,
        echo_counts,
        main_table,
        type_table,
    )

    path = Path(record["data"]) if Path(record["data"]).is_file() else data
    systems = {str(it.key): it.system for it in load_items(path).items}
    o = record["options"]
    print(f"{len(record['items'])} items (of {record['selected_of']} selected; dropped: {record['dropped']}); "
          f"N = {o['rounds']}; filler/task budgets {o['filler_tokens']}/{o['task_tokens']} tokens; greedy")  # fmt: skip
    print(ANCHORS, "", main_table(record), "", decision_table(record), "", type_table(record), "", sep="\n")
    print("prompt-strict passes [all, of which the reply echoes the system prompt]:",
          json.dumps(echo_counts(record, systems)))  # fmt: skip


def merge(records: list[dict[str, Any]], data: Path, command: str) -> dict[str, Any]:
    """Join runs of records made on the same items with the same options."""
    first = records[0]
    for rec in records[1:]:
        same = {k: v for k, v in rec["options"].items() if k != "rounds"} == {
            k: v for k, v in first["options"].items() if k != "rounds"}
        if rec["items"] != first["items"] or not same:
            raise SystemExit(f"cannot merge: records differ in items or options ({rec['command']})")
    runs: list[dict[str, Any]] = []
    for rec in records:
        for run in rec["runs"]:
            same = next((x for x in runs if x["label"] == run["label"]), None)
            if same is None:
                runs.append(run)
            elif not _rounds_of(same) & _rounds_of(run):
                # The same control at other N (e.g. N = 2 and 4 added later): join per item.
                # CPU seconds stay the first run's, so cost ratios compare like with like.
                same["items"] = {k: {**v, **run["items"][k]} for k, v in same["items"].items()}
                same.setdefault("added_rounds_from", []).append(rec["command"])
    loaded = load_items(Path(first["data"]) if Path(first["data"]).is_file() else data)
    by_key = {it.key: it for it in loaded.items}
    items = [by_key[k] for k in first["items"]]
    o = first["options"]
    rounds = sorted({n for rec in records for n in rec["options"]["rounds"]})
    merged = {**first, "command": command, "merged_from": [r["command"] for r in records], "runs": runs,
              "options": {**o, "rounds": rounds}}  # fmt: skip
    merged["summary"] = summarise(runs, items, rounds, o["seed"])
    return merged


def _rounds_of(run: dict[str, Any]) -> set[str]:
    return set(next(iter(run["items"].values()), {}))


if __name__ == "__main__":
    raise SystemExit(main())

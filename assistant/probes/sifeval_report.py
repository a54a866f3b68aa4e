"""Markdown tables of an S-IFEval record (bench/sifeval.py): per control and N, and per type."""

from __future__ import annotations

from typing import Any

ANCHORS = (
    "Published single-turn S-IFEval, prompt-level strict (Mu et al. 2025): Llama 3.1 8B Instruct 66.6 "
    "(77.9 with the constraints in the user turn), GPT-4o 78.1."
)


def _ci(e: dict[str, Any] | None, signed: bool = False) -> str:
    if not e:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(e['mean'])} [{f.format(e['lo'])}, {f.format(e['hi'])}]"


def echo(reply: str, system: str) -> bool:
    """The reply repeats the start of its system prompt (a tiny model's way of 'following')."""
    head = " ".join(system.split()[:6]).lower()
    return bool(head) and head in " ".join(reply.split()).lower()


def main_table(record: dict[str, Any]) -> str:
    """One row per control and N: prompt/instruction level, strict/loose, paired changes."""
    rows = ["| control | N | prompt strict | prompt loose | instruction strict | instruction loose "
            "| prompt strict vs none | vs N = 0 | cut by budget |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, s in record["summary"].items():
        for n, row in s["by_n"].items():
            vs0 = next((v for k, v in row.items() if k.removeprefix("prompt_strict_vs_n").isdigit()), None)
            rows.append(f"| {label} | {n} | {_ci(row['prompt_strict'])} | {_ci(row['prompt_loose'])} | "
                        f"{_ci(row['instruction_strict'])} | {_ci(row['instruction_loose'])} | "
                        f"{_ci(row.get('prompt_strict_vs_none'), True)} | {_ci(vs0, True)} | "
                        f"{row['truncated']}/{row['prompt_strict']['n']} |")  # fmt: skip
    return "\n".join(rows)


def decision_table(record: dict[str, Any]) -> str:
    """The selection view at the last N: mean, change vs none, CPU cost vs none, and drift
    (kept of the items followed at the first N)."""
    rows = ["| control | N | prompt strict | vs none | CPU s | cost vs none | followed at first N, kept at last N "
            "| change on those |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, s in record["summary"].items():
        n = list(s["by_n"])[-1]
        row, k = s["by_n"][n], s.get("kept") or {}
        rows.append(f"| {label} | {n} | {_ci(row['prompt_strict'])} | {_ci(row.get('prompt_strict_vs_none'), True)} | "
                    f"{s.get('cpu_seconds', '-')} | {s.get('cost_vs_none', '-')} | "
                    f"{k.get('followed', '-')} -> {k.get('kept', '-')} | {_ci(k.get('change'), True)} |")  # fmt: skip
    return "\n".join(rows)


def type_table(record: dict[str, Any]) -> str:
    """Instruction-level strict passes per constraint type, control and N (passes/instructions)."""
    summary = record["summary"]
    labels = list(summary)
    cols = [(label, n) for label in labels for n in summary[label]["by_n"]]
    types = sorted({t for label in labels for t in summary[label]["per_type"]})
    rows = ["| type | n | " + " | ".join(f"{label} N={n}" for label, n in cols) + " |",
            "|---|---|" + "---|" * len(cols)]  # fmt: skip
    for t in types:
        first = summary[labels[0]]["per_type"].get(t, {"n": 0})
        cells = [str(summary[label]["per_type"].get(t, {}).get(n, "-")) for label, n in cols]
        rows.append(f"| {t} | {first['n']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def echo_counts(record: dict[str, Any], systems: dict[str, str]) -> dict[str, dict[str, list[int]]]:
    """Per control and N: [prompt-strict passes, of which the reply echoes the system prompt]."""
    out: dict[str, dict[str, list[int]]] = {}
    for run in record["runs"]:
        per: dict[str, list[int]] = {}
        for key, by_n in run["items"].items():
            for n, r in by_n.items():
                cell = per.setdefault(n, [0, 0])
                if all(r["strict"]):
                    cell[0] += 1
                    cell[1] += int(echo(r["reply"], systems.get(key, "")))
        out[run["label"]] = per
    return out

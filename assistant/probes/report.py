"""The PNG plot and the Markdown report of a run, made from its record alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(est: dict[str, Any] | None, digits: int = 2) -> str:
    if not est:
        return "n/a"
    return f"{est['mean']:.{digits}f} [{est['lo']:.{digits}f}, {est['hi']:.{digits}f}]"


def _fmt_delta(est: dict[str, Any] | None) -> str:
    if not est:
        return "(baseline)"
    return f"{est['mean']:+.2f} [{est['lo']:+.2f}, {est['hi']:+.2f}]"


def render_plot(record: dict[str, Any], path: Path) -> Path:
    """Stability curves with 95% bands, and last-round stability against general ability."""
    import matplotlib

    matplotlib.use("Agg")  # headless: nightly runs have no display
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    cmap = plt.get_cmap("tab10")
    for i, control in enumerate(record["controls"]):
        rounds = [p["round"] for p in control["curve"]]
        means = [p["mean"] for p in control["curve"]]
        color = cmap(i % 10)
        left.plot(rounds, means, marker="o", color=color, label=control["label"])
        left.fill_between(rounds, [p["lo"] for p in control["curve"]], [p["hi"] for p in control["curve"]],
                          color=color, alpha=0.12)  # fmt: skip
        if control.get("general") and control.get("last_round"):
            right.scatter(control["general"]["mean"], control["last_round"]["mean"], color=color, s=50)
            right.annotate(control["label"], (control["general"]["mean"], control["last_round"]["mean"]),
                           fontsize=7, xytext=(4, 3), textcoords="offset points")  # fmt: skip
    if not any(c.get("general") for c in record["controls"]):
        right.text(0.5, 0.5, "general ability not measured", ha="center", va="center", color="gray")
    opts = record["options"]
    n = len(record["cases"])
    left.set(xlabel="self-chat round", ylabel="mean probe score", ylim=(-0.02, 1.02),
             title=f"Instruction stability ({n} cases, {opts['effective_samples']} sample(s), seed {opts['seed']})")  # fmt: skip
    left.set_xticks(range(opts["rounds"] + 1))
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="best")
    right.set(xlabel="general ability (share correct)", ylabel=f"stability at round {opts['rounds']}",
              xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), title="Trade-off")  # fmt: skip
    right.grid(alpha=0.3)
    fig.suptitle(f"{record['model']} - {record['date']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff_table(record: dict[str, Any]) -> str:
    """Markdown table: per control, first and last round, change vs none, general ability."""
    rounds = record["options"]["rounds"]
    lines = [
        f"| control | round 0 | round {rounds} | change vs none at round {rounds} | general ability | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for c in record["controls"]:
        lines.append(f"| {c['label']} | {_fmt(c['first_round'])} | {_fmt(c['last_round'])} | "
                     f"{_fmt_delta(c['delta_vs_none_last_round'])} | {_fmt(c['general'])} | {c['seconds']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def gain_table(record: dict[str, Any], seed: int | None = None) -> str:
    """Markdown table: per control, the change vs none at the last round and averaged over
    rounds 1..R, both paired by case (the same case under both controls), with 95% intervals.

    The mean over rounds 1..R uses every probe after the conversation started, so it is the
    steadier of the two; the last round answers "after a long conversation".
    """
    from assistant.probes.stats import paired_delta

    rounds = record["options"]["rounds"]
    seed = record["options"].get("seed", 0) if seed is None else seed
    lines = [f"| control | change vs none at round {rounds} | mean change vs none, rounds 1-{rounds} | cases |",
             "|---|---|---|---|"]  # fmt: skip
    none = next((c for c in record["controls"] if c["label"] == "none"), None)
    if none is None or rounds < 1:
        return "\n".join([*lines, "| (no `none` control in this run) | n/a | n/a | 0 |"])
    ids = [i for i, v in none.get("per_case", {}).items() if len(v) > rounds]
    base_last = [none["per_case"][i][rounds] for i in ids]
    base_mean = [sum(none["per_case"][i][1:]) / rounds for i in ids]
    for c in record["controls"]:
        if c is none:
            continue
        per = c.get("per_case", {})
        if not ids or any(i not in per for i in ids):
            lines.append(f"| {c['label']} | n/a | n/a | 0 |")
            continue
        last = paired_delta([per[i][rounds] for i in ids], base_last, seed=seed).to_dict()
        mean = paired_delta([sum(per[i][1:]) / rounds for i in ids], base_mean, seed=seed).to_dict()
        lines.append(f"| {c['label']} | {_fmt_delta(last)} | {_fmt_delta(mean)} | {len(ids)} |")
    return "\n".join(lines)


def drift_table(record: dict[str, Any], seed: int = 1) -> str:
    """Markdown table: per control, the change from round 0 to round 4 and to the last round,
    paired by case (the same case at both rounds), with 95% intervals."""
    from assistant.probes.stats import paired_delta

    rounds = record["options"]["rounds"]
    marks = sorted({r for r in (min(4, rounds), rounds) if r > 0})
    lines = ["| control | " + " | ".join(f"round 0 -> {r}" for r in marks) + " |", "|---|" + "---|" * len(marks)]
    for c in record["controls"]:
        per = [v for v in c.get("per_case", {}).values() if len(v) > rounds]
        cells = [_fmt_delta(paired_delta([v[r] for v in per], [v[0] for v in per], seed=seed).to_dict())
                 if per else "n/a" for r in marks]  # fmt: skip
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve_table(record: dict[str, Any]) -> str:
    """Markdown table of mean score per round per control."""
    rounds = record["options"]["rounds"]
    head = "| control | " + " | ".join(f"r{r}" for r in range(rounds + 1)) + " |"
    lines = [head, "|---|" + "---|" * (rounds + 1)]
    for c in record["controls"]:
        lines.append(f"| {c['label']} | " + " | ".join(f"{p['mean']:.2f}" for p in c["curve"]) + " |")
    return "\n".join(lines)


def family_table(record: dict[str, Any]) -> str:
    """Markdown table of last-round mean per family per control."""
    families = sorted({f for c in record["controls"] for f in c["by_family_last_round"]})
    lines = ["| control | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
    for c in record["controls"]:
        cells = [f"{c['by_family_last_round'].get(f, float('nan')):.2f}" for f in families]
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(record: dict[str, Any]) -> str:
    """The human report of one run."""
    o = record["options"]
    families: dict[str, int] = {}
    for case in record["cases"]:
        families[case["family"]] = families.get(case["family"], 0) + 1
    fam = ", ".join(f"{k} {v}" for k, v in sorted(families.items()))
    from assistant.probes.verdict import verdict

    parts = [
        f"# Probe run {record['id']}",
        "",
        f"**{record.get('verdict') or verdict(record)}**",
        "",
        f"- date: {record['date']} ({record['kind']})",
        f"- model: {record['model']}",
        f"- cases: {len(record['cases'])} ({fam}); rounds: {o['rounds']}; samples: {o['effective_samples']}; "
        f"decoding: {o['decoding']}; max new tokens: {o['max_new_tokens']}",
        f"- seed: {o['seed']} ({o['seed_rule']})",
    ]
    if record.get("command"):
        parts.append(f"- command: `{record['command']}`")
    for src in record.get("pooled_from", []):
        parts.append(f"- pooled from run {src['id']} ({src['cases']} cases): `{src['command']}`")
    if record.get("alerts"):
        parts += ["", "**Alerts**", ""] + [f"- {a}" for a in record["alerts"]]
    parts += [
        "",
        "## Trade-off",
        "",
        "Mean probe score with a 95% bootstrap interval over cases; the change vs none is paired by case.",
        "",
        tradeoff_table(record),
        "",
        gain_table(record),
        "",
        "## Stability per round",
        "",
        curve_table(record),
        "",
        "## Drift from round 0 (same cases, 95% interval)",
        "",
        drift_table(record),
        "",
        f"## By family at round {o['rounds']}",
        "",
        family_table(record),
    ]
    threads = record.get("real_threads")
    if threads and threads.get("threads"):
        parts += ["", "## Real threads (persona probes, read-only)", "",
                  f"Control {threads['control']}; mean {_fmt(threads['mean'])} over {len(threads['threads'])} "
                  "thread(s).", "", "| thread | user turns | scores |", "|---|---|---|"]  # fmt: skip
        for t in threads["threads"]:
            scores = ", ".join(f"{k} {v:.2f}" for k, v in t["scores"].items())
            parts.append(f"| {t['index']} | {t['turns']} | {scores} |")
    png = record.get("files", {}).get("png")
    if png:
        parts += ["", f"![stability curves]({Path(png).name})"]
    return "\n".join(parts) + "\n"

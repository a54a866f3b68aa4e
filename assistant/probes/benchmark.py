"""One benchmark run end to end: pick cases, run every control, build the run record.

The record is plain JSON (see `build_record`); the plot and the Markdown report are
made from it alone, so an old run can be re-reported without a model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from assistant.config import Settings
from assistant.errors import ProbeError
from assistant.llm.base import ChatModel
from assistant.probes.controls import Control, default_control, parse_control, parse_controls
from assistant.probes.runner import (
    CaseTrace,
    ControlRun,
    GeneralResult,
    Progress,
    RunOptions,
    run_controls,
)
from assistant.probes.stats import mean_ci, paired_delta
from assistant.probes.suite import (
    OPT_IN_FILES,
    ProbeCase,
    load_general,
    load_partners,
    load_suite,
    persona_cases,
    select_cases,
)
from assistant.probes.verdict import verdict

RECORD_VERSION = 1
SEED_RULE = "seed + 1000*round + stage (stage 0 = agent A turn, 1 = probe, 2 = agent B turn, 3 = general)"


def options_from(settings: Settings, **overrides: Any) -> RunOptions:
    """RunOptions from the [probes] settings, with non-None overrides."""
    p = settings.probes
    base: dict[str, Any] = {"rounds": p.rounds, "samples": p.samples, "seed": p.seed,
            "temperature": p.temperature, "max_new_tokens": p.max_new_tokens,
            "partner_max_new_tokens": p.partner_max_new_tokens,
            "probe_max_new_tokens": p.probe_max_new_tokens}  # fmt: skip
    base.update({k: v for k, v in overrides.items() if v is not None})
    return RunOptions(**base)


def pick_cases(
    settings: Settings,
    *,
    families: Sequence[str] = (),
    limit: int | None = None,
    persona: bool = True,
    seed: int = 0,
    own_always: bool = False,
) -> list[ProbeCase]:
    """Persona probes (unless filtered out by family) plus a seeded, family-balanced suite sample.

    `own_always` keeps the configured persona's own probes whatever the families (nightly).
    """
    suite = select_cases(load_suite(settings, opt_in=families), families=families, limit=limit, seed=seed)
    wanted = persona and (own_always or not families or "persona" in families)
    mine = persona_cases(settings) if wanted else []
    taken = {c.id for c in suite}
    return [c for c in mine if c.id not in taken] + suite


def model_name(settings: Settings, llm: ChatModel) -> str:
    name = getattr(llm, "model_name", None) or getattr(llm, "name", None)
    if isinstance(name, str) and name:
        return name
    return settings.model.path or "SmolLM2-135M-Instruct (bundled GGUF)"


def build_record(
    runs: Sequence[ControlRun],
    opts: RunOptions,
    *,
    kind: str,
    model: str,
    command: str,
    headline: str,
    started: datetime,
) -> dict[str, Any]:
    """The JSON run record: options, seeds, cases, and per control the curve and costs."""
    none = next((r for r in runs if r.control.label == "none"), None)
    controls: list[dict[str, Any]] = []
    for run in runs:
        curve = run.curve(seed=opts.seed)
        last = [t.round_means()[-1] for t in run.traces]
        delta = None
        if none is not None and run is not none:
            delta = paired_delta(last, [t.round_means()[-1] for t in none.traces], seed=opts.seed).to_dict()
        families: dict[str, list[float]] = {}
        for t, v in zip(run.traces, last, strict=True):
            families.setdefault(t.case.family, []).append(v)
        controls.append({
            "label": run.control.label,
            "control": run.control.to_dict(),
            "curve": [{"round": r, **e.to_dict()} for r, e in enumerate(curve)],
            "first_round": curve[0].to_dict() if curve else None,
            "last_round": curve[-1].to_dict() if curve else None,
            "delta_vs_none_last_round": delta,
            "by_family_last_round": {f: round(sum(v) / len(v), 4) for f, v in sorted(families.items())},
            "general": run.general.estimate.to_dict() if run.general else None,
            "general_per_question": run.general.per_question if run.general else {},
            "general_answers": run.general.answers if run.general else {},
            "seconds": round(run.seconds, 1),
            "per_case": {t.case.id: [round(x, 4) for x in t.round_means()] for t in run.traces},
            "answers": {t.case.id: t.answers for t in run.traces},
        })  # fmt: skip
    head = next((c for c in controls if c["label"] == headline), controls[0] if controls else None)
    first_traces = runs[0].traces if runs else []
    return {
        "version": RECORD_VERSION,
        "id": started.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6],
        "date": started.isoformat(timespec="seconds"),
        "day": started.date().isoformat(),
        "kind": kind,
        "model": model,
        "command": command,
        "options": {
            "rounds": opts.rounds, "samples": opts.samples, "effective_samples": opts.effective_samples,
            "seed": opts.seed, "seed_rule": SEED_RULE, "temperature": opts.temperature,
            "decoding": "greedy" if opts.temperature == 0 else f"sampling T={opts.temperature}",
            "max_new_tokens": opts.max_new_tokens,
            "partner_max_new_tokens": opts.partner_max_new_tokens or opts.max_new_tokens,
            "general_max_new_tokens": opts.general_max_new_tokens or opts.max_new_tokens,
            "probe_max_new_tokens": opts.probe_max_new_tokens or opts.max_new_tokens,
        },  # fmt: skip
        "cases": [{"id": t.case.id, "family": t.case.family, "partner": t.partner, "own": t.case.own,
                   "probe": t.case.probe} for t in first_traces],
        "controls": controls,
        "headline": head["label"] if head else None,
        "stability_last_round": head["last_round"]["mean"] if head and head["last_round"] else None,
        "alert": False,
        "alerts": [],
        "seconds": round(sum(r.seconds for r in runs), 1),
    }


def run_benchmark(
    settings: Settings,
    llm: ChatModel,
    *,
    controls: Sequence[str] | None = None,
    families: Sequence[str] = (),
    cases: int | None = None,
    rounds: int | None = None,
    samples: int | None = None,
    seed: int | None = None,
    max_new_tokens: int | None = None,
    persona: bool = True,
    general: bool = True,
    kind: str = "manual",
    command: str = "",
    progress: Progress | None = None,
    own_always: bool = False,
) -> dict[str, Any]:
    """Run the comparison and return its record (not yet saved: see `history.save_run`)."""
    opts = options_from(settings, rounds=rounds, samples=samples, seed=seed, max_new_tokens=max_new_tokens)
    chosen: list[Control] = parse_controls(controls or settings.probes.controls, settings)
    picked = pick_cases(settings, families=families, limit=cases, persona=persona, seed=opts.seed,
                        own_always=own_always)  # fmt: skip
    if not picked:
        raise ProbeError("no probe cases selected; check --family and --cases")
    started = datetime.now(UTC)
    runs = run_controls(
        llm, picked, chosen, opts, partners=load_partners(),
        general=load_general() if general else None, progress=progress,
    )  # fmt: skip
    headline = default_control(settings).label
    record = build_record(runs, opts, kind=kind, model=model_name(settings, llm), command=command,
                          headline=headline, started=started)  # fmt: skip
    if record["headline"] != headline and any(c["label"] == "none" for c in record["controls"]):
        record["headline"] = "none"  # the live default was not measured; fall back to stock attention
        none = next(c for c in record["controls"] if c["label"] == "none")
        record["stability_last_round"] = none["last_round"]["mean"]
    record["verdict"] = verdict(record, threshold=settings.probes.alert_threshold)
    return record


def runs_from_record(record: dict[str, Any], cases: Sequence[ProbeCase], settings: Settings) -> list[ControlRun]:
    """Rebuild finished controls from a saved record, so an interrupted benchmark can resume.

    Only greedy records qualify (one answer per probe), which is what the benchmark runs.
    """
    if record.get("options", {}).get("effective_samples", 1) != 1:
        raise ProbeError(f"run {record.get('id')} used several samples per probe; it cannot be resumed")
    by_id = {c.id: c for c in cases}
    partners = {c["id"]: c["partner"] for c in record.get("cases", [])}
    if set(partners) != set(by_id):
        raise ProbeError(f"run {record.get('id')} was made with other cases; start a new run instead of resuming")
    runs: list[ControlRun] = []
    for c in record["controls"]:
        spec = c["control"]
        control = parse_control(_spec_of(spec), settings)
        traces = [
            CaseTrace(case=by_id[cid], partner=partners[cid], scores=[[v] for v in c["per_case"][cid]],
                      answers=[list(a) for a in c["answers"][cid]])
            for cid in partners
        ]  # fmt: skip
        general = None
        if c.get("general"):
            per = {k: float(v) for k, v in c["general_per_question"].items()}
            general = GeneralResult(mean_ci(list(per.values()), seed=record["options"]["seed"]), per,
                                    dict(c.get("general_answers", {})))  # fmt: skip
        runs.append(ControlRun(control, traces, general, float(c.get("seconds", 0.0))))
    return runs


def _spec_of(drift: dict[str, Any]) -> str:
    """The spec string of a control dict saved in a record."""
    if drift["kind"] in ("split_softmax", "instaboost"):
        head = f"split_softmax:k={drift['k']}" if drift["kind"] == "split_softmax" else f"instaboost:b={drift['boost']}"
        extra = f",layers={'+'.join(map(str, drift['layers']))}" if drift.get("layers") else ""
        extra += ",repeat=1" if drift.get("repeat_system") else ""
        return f"{head},span={drift['span']}{extra}"
    if drift["kind"] == "cfg":
        return f"cfg:g={drift['guidance']}"
    return str(drift["kind"])


def overall(values: Sequence[float], seed: int = 0) -> dict[str, float | int]:
    """Mean and interval of a list of scores, as a record-ready dict."""
    return mean_ci(list(values), seed=seed).to_dict()


POOL_OPTIONS = ("rounds", "seed", "effective_samples", "temperature", "max_new_tokens", "partner_max_new_tokens",
                "probe_max_new_tokens", "general_max_new_tokens")  # fmt: skip


def pool_records(records: Sequence[dict[str, Any]], settings: Settings) -> tuple[list[ControlRun], list[str]]:
    """Join records made with the same options on disjoint cases into one set of runs.

    This is how new cases are added to an earlier grid without rerunning it: each case keeps
    the conversation it had (paired across controls inside its own record), and the joined
    runs are scored over all cases. Only the controls present in every record are kept;
    the second value names the ones left out. General ability does not depend on the cases,
    so it is taken from the first record (and must agree with the others).
    """
    if len(records) < 2:
        raise ProbeError("pooling needs at least two run records")
    first = records[0]
    for rec in records[1:]:
        differ = [k for k in POOL_OPTIONS if rec["options"].get(k) != first["options"].get(k)]
        if differ:
            raise ProbeError(f"run {rec.get('id')} was made with other {', '.join(differ)} than {first.get('id')}; "
                             "only runs of the same command on other cases can be pooled")  # fmt: skip
    seen: dict[str, str] = {}
    for rec in records:
        for c in rec["cases"]:
            if c["id"] in seen:
                raise ProbeError(f"case {c['id']!r} is in both {seen[c['id']]} and {rec.get('id')}; pool runs on "
                                 "disjoint cases (bench/probe_tradeoff.py --skip-cases-in)")  # fmt: skip
            seen[c["id"]] = str(rec.get("id"))
    known = {c.id: c for c in [*persona_cases(settings), *load_suite(settings, opt_in=OPT_IN_FILES)]}
    missing = sorted(set(seen) - set(known))
    if missing:
        raise ProbeError(f"case(s) {', '.join(missing[:5])} are no longer in the suite; pool runs of the current suite")
    labels = [c["label"] for c in first["controls"]]
    common = [lab for lab in labels if all(lab in {c["label"] for c in rec["controls"]} for rec in records)]
    dropped = sorted({c["label"] for rec in records for c in rec["controls"]} - set(common))
    parts = [runs_from_record(rec, [known[c["id"]] for c in rec["cases"]], settings) for rec in records]
    pooled: list[ControlRun] = []
    for label in common:
        runs = [next(r for r in part if r.control.label == label) for part in parts]
        general = runs[0].general
        for other in runs[1:]:
            if general and other.general and other.general.per_question != general.per_question:
                raise ProbeError(f"general ability of {label} differs between the pooled runs; they were not made "
                                 "the same way")  # fmt: skip
        pooled.append(ControlRun(runs[0].control, [t for r in runs for t in r.traces], general,
                                 sum(r.seconds for r in runs)))  # fmt: skip
    return pooled, dropped

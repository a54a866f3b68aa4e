"""S-IFEval over many rounds: system-prompt constraints, everyday filler turns, IFEval judges.

An item (Mu et al. 2025, arXiv 2502.12197) puts IFEval's verifiable constraints in the
system message and a task in the user message. Here the conversation is: the item's system
message, N rounds of everyday requests (a fixed list, the same for every item) each
answered by the model under the control being measured, then the item's task. The reply
to the task is judged by IFEval's checkers (`assistant.probes.ifeval_check`).

All N are measured in one pass: the task is asked on a branch after round 0, 2, 4, ...,
and the conversation carries on without it (as the self-probes do), so N = 8 costs eight
short filler replies plus one task reply per N, per item, and items run as one batch.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ProbeError
from assistant.llm.base import ChatModel, DriftControl, Message
from assistant.probes.controls import Control
from assistant.probes.ifeval_check import OFFLINE_UNSUPPORTED, follows
from assistant.probes.stats import mean_ci, paired_delta

# Everyday requests a user of a personal assistant makes; none of them touches the
# constraint types, so a reply to them is neither helped nor hurt by a constraint.
FILLER = (
    "What is a quick breakfast I can make in five minutes?",
    "Remind me why I should drink water during the day.",
    "Give me one tip for a tidier desk.",
    "How long should I boil an egg for a soft yolk?",
    "Suggest a short stretch for a stiff neck.",
    "What is a polite way to decline a meeting?",
    "Name a good houseplant for a dark room.",
    "How do I keep bread fresh for longer?",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Item:
    """One S-IFEval item: constraints in `system`, the task in `user`, checker ids and kwargs."""

    key: int
    system: str
    user: str
    prompt: str  # IFEval's original single-turn prompt (one checker reads it)
    instruction_ids: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...]


@dataclass
class Loaded:
    """Items that can be judged offline, and what was left out and why."""

    items: list[Item]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> item count


def parse_item(raw: dict[str, Any], where: str) -> Item:
    """One JSONL line of the S-IFEval file, checked."""
    try:
        messages = raw["messages"]
        roles = [m["role"] for m in messages]
        if roles != ["system", "user"]:
            raise ProbeError(f"{where}: expected a system and a user message, found {roles}")
        ids, kwargs = raw["instruction_id_list"], raw["kwargs"]
        return Item(key=int(raw["key"]), system=messages[0]["content"], user=messages[1]["content"],
                    prompt=str(raw.get("prompt", "")), instruction_ids=tuple(ids),
                    kwargs=tuple({k: v for k, v in kw.items() if v is not None} for kw in kwargs))  # fmt: skip
    except (KeyError, TypeError, IndexError) as exc:
        raise ProbeError(f"{where}: not an S-IFEval item (missing {exc}); each line needs key, messages, "
                         "instruction_id_list and kwargs") from None  # fmt: skip


def load_items(path: Path, *, types: Iterable[str] = ()) -> Loaded:
    """Read a JSONL file; drop items whose checkers need data unavailable offline.

    `types` keeps only items whose every instruction id is in it (e.g. the types the model
    follows at N = 0); empty keeps all.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ProbeError(f"S-IFEval file {path} not found; pass --data PATH to the JSONL file") from None
    wanted = set(types)
    out = Loaded(items=[])
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        item = parse_item(json.loads(line), f"{path}:{i + 1}")
        offline = set(item.instruction_ids) & OFFLINE_UNSUPPORTED
        if offline:
            reason = "needs NLTK punkt data: " + ", ".join(sorted(offline))
            out.dropped[reason] = out.dropped.get(reason, 0) + 1
        elif wanted and not set(item.instruction_ids) <= wanted:
            out.dropped["type not selected"] = out.dropped.get("type not selected", 0) + 1
        else:
            out.items.append(item)
    return out


def sample_items(items: Sequence[Item], limit: int | None, seed: int) -> list[Item]:
    """A seeded sample (all when `limit` is None or larger), kept in file order."""
    if limit is None or limit >= len(items):
        return list(items)
    picked = set(random.Random(seed).sample(range(len(items)), limit))
    return [it for i, it in enumerate(items) if i in picked]


@dataclass(frozen=True)
class Options:
    """Budgets and seeds of one run."""

    rounds: tuple[int, ...] = (0, 8)
    filler_tokens: int = 16
    task_tokens: int = 64
    batch_size: int = 64
    seed: int = 1234

    def __post_init__(self) -> None:
        if not self.rounds or min(self.rounds) < 0 or max(self.rounds) > len(FILLER):
            raise ProbeError(f"rounds must be between 0 and {len(FILLER)} (one filler request per round)")


@dataclass
class Reply:
    """The task reply after N rounds, and whether the token budget cut it."""

    text: str
    truncated: bool


def _generate(llm: ChatModel, convs: Sequence[Sequence[Message]], control: DriftControl, tokens: int,
              opts: Options, seed: int) -> list[Reply]:  # fmt: skip
    out: list[Reply] = []
    for start in range(0, len(convs), opts.batch_size):
        results = llm.chat_batch(convs[start : start + opts.batch_size], max_new_tokens=tokens, temperature=0.0,
                                 seed=seed + start, control=control, priority="background")  # fmt: skip
        out += [Reply(r.text.strip(), r.finish_reason == "length") for r in results]
    return out


def converse(
    llm: ChatModel, items: Sequence[Item], control: Control, opts: Options, progress: Progress | None = None
) -> dict[int, list[Reply]]:
    """Task replies per N in `opts.rounds` (same order), for every item, greedy, under `control`."""
    convs: list[list[Message]] = [[{"role": "system", "content": it.system}] for it in items]
    wanted = sorted(set(opts.rounds))
    replies: dict[int, list[Reply]] = {}
    for r in range(max(wanted) + 1):
        if r in wanted:
            branches: list[list[Message]] = [
                [*c, {"role": "user", "content": it.user}] for c, it in zip(convs, items, strict=True)
            ]
            replies[r] = _generate(llm, branches, control.drift, opts.task_tokens, opts, opts.seed + 1000 * r + 1)
            if progress:
                progress(f"{control.label}: task after {r} rounds")
        if r < max(wanted):
            for c in convs:
                c.append({"role": "user", "content": FILLER[r]})
            answers = _generate(llm, convs, control.drift, opts.filler_tokens, opts, opts.seed + 1000 * r)
            for c, a in zip(convs, answers, strict=True):
                c.append({"role": "assistant", "content": a.text})
            if progress:
                progress(f"{control.label}: filler round {r + 1}")
    return replies


@dataclass
class Judged:
    """Per-instruction results of one reply."""

    strict: list[bool]
    loose: list[bool]

    def to_dict(self) -> dict[str, list[bool]]:
        return {"strict": self.strict, "loose": self.loose}


def judge(item: Item, reply: Reply) -> Judged:
    """IFEval strict and loose verdicts for each of the item's instructions."""
    args = (reply.text, item.instruction_ids, item.kwargs)
    return Judged(strict=follows(*args, prompt=item.prompt), loose=follows(*args, prompt=item.prompt, loose=True))


def run_control(
    llm: ChatModel, items: Sequence[Item], control: Control, opts: Options, progress: Progress | None = None
) -> dict[str, Any]:
    """One control's record: per item and N, the reply (cut to 400 chars) and its verdicts."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    replies = converse(llm, items, control, opts, progress)
    per_item = {}
    for i, it in enumerate(items):
        per_item[str(it.key)] = {
            str(r): {**judge(it, replies[r][i]).to_dict(), "truncated": replies[r][i].truncated,
                     "reply": replies[r][i].text[:400]}
            for r in sorted(replies)
        }  # fmt: skip
    return {"label": control.label, "control": control.to_dict(), "items": per_item,
            "cpu_seconds": round(time.process_time() - cpu0, 1), "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


# ---- summaries -------------------------------------------------------------------------

LEVELS = ("strict", "loose")


def prompt_scores(run: dict[str, Any], keys: Sequence[str], n: int, level: str) -> list[float]:
    """Per item: 1 when every instruction is followed after `n` rounds."""
    return [float(all(run["items"][k][str(n)][level])) for k in keys]


def instruction_scores(run: dict[str, Any], keys: Sequence[str], n: int, level: str) -> list[float]:
    """Per instruction (items' instructions in order): 1 when followed after `n` rounds."""
    return [float(x) for k in keys for x in run["items"][k][str(n)][level]]


def _est(values: Sequence[float], seed: int) -> dict[str, float | int]:
    return mean_ci(values, seed=seed).to_dict()


def summarise(runs: Sequence[dict[str, Any]], items: Sequence[Item], rounds: Sequence[int], seed: int) -> dict[str, Any]:
    """Accuracy per control and N (strict/loose, prompt/instruction level) with 95% intervals,
    paired deltas vs `none` and vs N = 0, and per-type instruction-level accuracy.

    Instruction-level intervals resample instructions (an item's 1-3 instructions are
    treated as independent): slightly narrower than resampling items, said in the README.
    """
    keys = [str(it.key) for it in items]
    base = next((r for r in runs if r["label"] == "none"), None)
    out: dict[str, Any] = {}
    for run in runs:
        table: dict[str, Any] = {}
        mine = run_rounds(run, rounds)
        for n in mine:
            row: dict[str, Any] = {}
            for level in LEVELS:
                p = prompt_scores(run, keys, n, level)
                ins = instruction_scores(run, keys, n, level)
                row[f"prompt_{level}"] = _est(p, seed + n)
                row[f"instruction_{level}"] = _est(ins, seed + n)
                if base is not None and run is not base and n in run_rounds(base, rounds):
                    row[f"prompt_{level}_vs_none"] = paired_delta(p, prompt_scores(base, keys, n, level),
                                                                  seed=seed + n).to_dict()  # fmt: skip
                if n != mine[0]:
                    p0 = prompt_scores(run, keys, mine[0], level)
                    row[f"prompt_{level}_vs_n{mine[0]}"] = paired_delta(p, p0, seed=seed + n).to_dict()
            row["truncated"] = sum(run["items"][k][str(n)]["truncated"] for k in keys)
            table[str(n)] = row
        out[run["label"]] = {"by_n": table, "per_type": per_type(run, items, mine),
                             "kept": kept(run, keys, mine, seed), "cpu_seconds": run.get("cpu_seconds")}  # fmt: skip
        if base is not None and run.get("cpu_seconds") and base.get("cpu_seconds"):
            out[run["label"]]["cost_vs_none"] = round(run["cpu_seconds"] / base["cpu_seconds"], 2)
    return out


def kept(run: dict[str, Any], keys: Sequence[str], rounds: Sequence[int], seed: int) -> dict[str, Any] | None:
    """Drift where it can show: on the items this control follows (prompt strict) at its
    first N, how many still pass at its last N, and the paired change with its interval."""
    if len(rounds) < 2:
        return None
    first, last = rounds[0], rounds[-1]
    followed = [k for k, v in zip(keys, prompt_scores(run, keys, first, "strict"), strict=True) if v]
    after = prompt_scores(run, followed, last, "strict")
    change = paired_delta(after, [1.0] * len(followed), seed=seed).to_dict() if followed else None
    return {"from_n": first, "to_n": last, "followed": len(followed), "kept": int(sum(after)), "change": change}


def run_rounds(run: dict[str, Any], rounds: Sequence[int]) -> list[int]:
    """The N values a run measured (a cheaper control may skip some), within `rounds`."""
    first: dict[str, Any] = next(iter(run["items"].values()), {})
    return [n for n in sorted(rounds) if str(n) in first]


def per_type(run: dict[str, Any], items: Sequence[Item], rounds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Instruction-level strict accuracy per constraint type and N, with counts."""
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        rec = run["items"][str(it.key)]
        for j, tid in enumerate(it.instruction_ids):
            row = out.setdefault(tid, {"n": 0, **{str(n): 0 for n in rounds}})
            row["n"] += 1
            for n in rounds:
                row[str(n)] += int(rec[str(n)]["strict"][j])
    return dict(sorted(out.items()))


def followed_types(run: dict[str, Any], items: Sequence[Item], n: int = 0) -> list[str]:
    """Constraint types followed (strict) at least once at round `n`: the rest are the floor."""
    return [t for t, row in per_type(run, items, [n]).items() if row[str(n)] > 0]


# ---- as probe cases (the nightly self-probe's "sifeval" family) ---------------------------


def _toml_value(value: Any) -> str:
    """A TOML literal for the plain values S-IFEval arguments hold (JSON escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise ProbeError(f"cannot write {type(value).__name__} into a probe case")


def to_cases_toml(items: Sequence[Item], *, max_new_tokens: int, header: str = "") -> str:
    """Items as ``[[case]]`` tables for a probe suite: judge "ifeval", family "sifeval"."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()]
    for it in items:
        args = {"instructions": list(it.instruction_ids), "kwargs": [dict(k) for k in it.kwargs],
                "prompt": it.prompt}  # fmt: skip
        lines += ["", "[[case]]", f'id = "sifeval-{it.key}"', 'family = "sifeval"',
                  f"system_prompt = {_toml_value(it.system)}", f"probe = {_toml_value(it.user)}",
                  'judge = "ifeval"', f"args = {_toml_value(args)}", f"max_new_tokens = {max_new_tokens}"]  # fmt: skip
    return "\n".join(lines) + "\n"

"""Run records on disk: data_dir()/probes/runs/<id>.json (+ .png plot, .md report).

History is the folder itself: one JSON file per run, never rewritten except to attach
alerts and file names right after the run. `last_result` feeds the digest header.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from assistant.errors import ProbeError
from assistant.paths import data_dir

log = logging.getLogger(__name__)


def runs_dir() -> Path:
    """Where run records live (not created here)."""
    return data_dir() / "probes" / "runs"


def save_run(record: dict[str, Any], *, plot: bool = True, report: bool = True) -> dict[str, str]:
    """Write the record's JSON, PNG plot and Markdown report; return their paths."""
    from assistant.probes.report import render_markdown, render_plot  # matplotlib only when saving

    folder = runs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / record["id"]
    files = {"json": str(stem.with_suffix(".json"))}
    if plot:
        files["png"] = str(render_plot(record, stem.with_suffix(".png")))
    if report:
        files["md"] = str(stem.with_suffix(".md"))
    record["files"] = files
    if report:
        Path(files["md"]).write_text(render_markdown(record), encoding="utf-8")
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(files["json"])  # atomic: a reader never sees half a record
    return files


def load_run(path: Path) -> dict[str, Any]:
    """One run record; a clear error when the file is damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProbeError(f"probe run record {path} cannot be read ({exc}); delete it or restore it") from None
    if not isinstance(data, dict) or "controls" not in data:
        raise ProbeError(f"probe run record {path} is not a run record; delete it")
    return data


def list_runs(*, kind: str | None = None) -> list[dict[str, Any]]:
    """Every readable run record, oldest first (damaged files are skipped with a warning)."""
    folder = runs_dir()
    if not folder.is_dir():
        return []
    found: list[tuple[str, float, dict[str, Any]]] = []
    for path in folder.glob("*.json"):
        try:
            record = load_run(path)
        except ProbeError as exc:
            log.warning("%s", exc)
            continue
        if kind is None or record.get("kind") == kind:
            found.append((str(record.get("date", "")), path.stat().st_mtime, record))
    found.sort(key=lambda t: (t[0], t[1]))  # dates have whole seconds; the file time breaks ties
    return [r for _, _, r in found]


def find_run(run_id: str | None = None) -> dict[str, Any]:
    """The run with this id (or id prefix), or the latest one."""
    runs = list_runs()
    if not runs:
        raise ProbeError("no probe runs yet; run `assistant probe run` first")
    if run_id is None:
        return runs[-1]
    matches = [r for r in runs if str(r.get("id", "")).startswith(run_id)]
    if not matches:
        raise ProbeError(f"no probe run with id {run_id!r}; see `assistant probe history`")
    return matches[-1]


def _verdict(record: dict[str, Any]) -> str:
    from assistant.probes.verdict import verdict  # records saved before verdicts existed

    return verdict(record)


def last_result() -> dict[str, Any] | None:
    """The latest nightly (else any) run, summarised for the digest header."""
    runs = list_runs(kind="nightly") or list_runs()
    if not runs:
        return None
    r = runs[-1]
    return {
        "date": r.get("day") or r.get("date", "")[:10],
        "stability_last_round": r.get("stability_last_round"),
        "alert": bool(r.get("alert")),
        "alerts": list(r.get("alerts", [])),
        "control": r.get("headline"),
        "rounds": r.get("options", {}).get("rounds"),
        "cases": len(r.get("cases", [])),
        "id": r.get("id"),
        "report": r.get("files", {}).get("md"),
        "verdict": r.get("verdict") or _verdict(r),
    }

"""The trailing mean of past runs: what a night's curve is compared with.

Kept apart from `history` (which reads and writes run files) so that the alert and
verdict rules, which `history` uses when it saves a run, do not import it back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def trailing(
    label: str, *, before: datetime, days: int, runs: list[dict[str, Any]], kind: str | None = "nightly"
) -> list[float | None]:
    """Mean curve of `label` over runs in the `days` before `before` (None where no run has the round)."""
    start = before - timedelta(days=days)
    sums: list[float] = []
    counts: list[int] = []
    for record in runs:
        if kind is not None and record.get("kind") != kind:
            continue
        when = datetime.fromisoformat(record["date"])
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if not start <= when < before:
            continue
        for control in record.get("controls", []):
            if control.get("label") != label:
                continue
            for point in control.get("curve", []):
                r = point["round"]
                while len(sums) <= r:
                    sums.append(0.0)
                    counts.append(0)
                sums[r] += point["mean"]
                counts[r] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]

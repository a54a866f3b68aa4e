"""Means with seeded bootstrap confidence intervals, over cases (samples averaged first).

Samples of one case share a conversation, so they are not independent: the resampling
unit is the case, which keeps the interval honest when samples > 1.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    """A mean with a 95% interval and the number of cases behind it."""

    mean: float
    lo: float
    hi: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": round(self.mean, 4), "lo": round(self.lo, 4), "hi": round(self.hi, 4), "n": self.n}


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    low, high = math.floor(pos), math.ceil(pos)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def mean_ci(values: Sequence[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Estimate:
    """Mean and 95% percentile-bootstrap interval of per-case values."""
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean, mean, mean, 1)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return Estimate(mean, _percentile(means, 0.025), _percentile(means, 0.975), n)


def paired_delta(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> Estimate:
    """Mean of a - b over paired cases, with a bootstrap interval."""
    if len(a) != len(b):
        raise ValueError("paired_delta needs the same cases on both sides")
    return mean_ci([x - y for x, y in zip(a, b, strict=True)], seed=seed)

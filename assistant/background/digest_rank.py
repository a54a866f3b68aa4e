"""Ranking a digest: what arrived since the last one, scored and cut to `digest.top_n`.

``weight_relevance * cos(item, interest vector) + weight_recency * 0.5 ** (age / half
life) + weight_slack * (mention 1.0, my thread 0.5, capped at 1)``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assistant.background import digest_record
from assistant.config import Settings
from memory.interface import Memory

log = logging.getLogger(__name__)

CANDIDATES = 2000  # items considered per digest; far more than a day brings


@dataclass(frozen=True)
class RankedItem:
    """An item with its score and the parts the score is made of."""

    item: Any  # memory.types.Item
    rank: int
    score: float
    relevance: float
    recency: float
    slack: float

    def reasons(self) -> list[str]:
        """Short words saying why the item ranked where it did."""
        out = [f"relevance {self.relevance:.2f}", f"recency {self.recency:.2f}"]
        if getattr(self.item, "mentions_me", False):
            out.append("mentions you")
        if getattr(self.item, "my_thread", False):
            out.append("your thread")
        return out


@dataclass
class Digest:
    """What a digest shows."""

    day: date
    user_id: str
    items: list[RankedItem]
    goals: list[str]
    probe: dict[str, Any] | None
    since: float
    until: float
    considered: list[str] = field(default_factory=list)  # every candidate id, shown or not
    note: str = ""  # shown at the top, e.g. that it was built before the summaries finished


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 for an empty or zero vector."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def rank_items(
    settings: Settings,
    items: Sequence[Any],
    *,
    embeddings: dict[str, list[float]],
    interest: Sequence[float] | None,
    now: float,
) -> list[RankedItem]:
    """Score and sort items (best first); ranks start at 1."""
    cfg = settings.digest
    half_life_s = cfg.recency_half_life_hours * 3600.0
    scored = []
    for item in items:
        vec = embeddings.get(item.id)
        relevance = max(0.0, cosine(vec, interest)) if vec is not None and interest else 0.0
        when = item.published or item.updated or now
        recency = 0.5 ** (max(0.0, now - when) / half_life_s)
        slack = min(1.0, (1.0 if item.mentions_me else 0.0) + (0.5 if item.my_thread else 0.0))
        score = (
            cfg.weight_relevance * relevance
            + cfg.weight_recency * recency
            + cfg.weight_slack * slack
        )
        scored.append((score, relevance, recency, slack, item))
    scored.sort(key=lambda s: (-s[0], s[4].id))
    return [
        RankedItem(item=it, rank=i + 1, score=sc, relevance=rel, recency=rec, slack=sl)
        for i, (sc, rel, rec, sl, it) in enumerate(scored)
    ]


def collect(settings: Settings, store: Memory, *, day: date, user_id: str) -> tuple[Digest, int]:
    """Gather, rank and cut the items of `day`'s digest; (digest, items considered)."""
    from assistant.background.clock import zone

    tz = zone(settings)
    since, until = digest_record.window(settings, user_id, day, tz)
    seen = digest_record.considered_before(user_id, day)
    # An item pulled after the last digest can carry an earlier publication time (a
    # late pull): it still counts when no earlier digest looked at it.
    late = settings.digest.late_pull_hours * 3600.0 if seen is not None else 0.0
    candidates = []
    for it in store.items.list(user_id, limit=CANDIDATES, since=since - late):
        when = it.published or it.updated or since
        if when >= until:
            continue
        if when >= since or (seen is not None and it.id not in seen):
            candidates.append(it)
    embeddings = store.items.embeddings(user_id, [it.id for it in candidates]) if candidates else {}
    interest = store.profile.interest_vector(user_id)
    now = min(time.time(), until)
    ranked = rank_items(settings, candidates, embeddings=embeddings, interest=interest, now=now)
    top = ranked[: settings.digest.top_n]
    goals = [g.statement for g in store.goals.open_goals(user_id)]
    digest = Digest(day, user_id, top, goals, _last_probe(), since, until)
    digest.considered = [it.id for it in candidates]
    return digest, len(candidates)


def _last_probe() -> dict[str, Any] | None:
    from assistant.probes.history import last_result

    try:
        return last_result()
    except Exception as exc:  # noqa: BLE001 - a broken probe history must not stop the digest
        log.warning("could not read the last probe result: %s", exc)
        return None

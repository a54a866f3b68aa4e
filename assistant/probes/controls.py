"""Drift-control specs: short strings in config and on the command line, DriftControl inside.

Grammar: ``kind[:key=value,...]`` with kind one of none, split_softmax, instaboost,
repeat_system, cfg; keys k (split_softmax), b (instaboost: the factor on the span's
attention weights), span, layers (``0-14`` or ``3+5+7``) and repeat (``1``: also repeat the
system prompt) for both span controls, g (cfg). A bare ``split_softmax`` takes k, span and
layers from the ``[split_softmax]`` settings. ``all`` expands to the full comparison grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from assistant.config import Settings
from assistant.errors import ProbeError
from assistant.llm.base import DriftControl

KINDS = ("none", "split_softmax", "instaboost", "repeat_system", "cfg")
SPAN_KEYS = {"span", "layers", "repeat"}

# The comparison of PROBES.md: stock attention, split-softmax over k and both spans,
# and the paper's two baselines.
FULL_GRID = (
    "none",
    "split_softmax:k=0.25,span=turn",
    "split_softmax:k=0.5,span=turn",
    "split_softmax:k=0.75,span=turn",
    "split_softmax:k=0.25,span=text",
    "split_softmax:k=0.5,span=text",
    "split_softmax:k=0.75,span=text",
    "repeat_system",
    "cfg:g=1.5",
)


@dataclass(frozen=True)
class Control:
    """A drift control with the label it has in tables and plots."""

    label: str
    drift: DriftControl

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for run records."""
        d = asdict(self.drift)
        d["layers"] = list(self.drift.layers)
        return {"label": self.label, **d}


def label_of(drift: DriftControl) -> str:
    """A short stable label: none, ss k=0.50 turn, ib b=4 text L0-14 +rep, cfg g=1.5."""
    if drift.reweights_span:
        layers = f" L{layer_ranges(drift.layers)}" if drift.layers else ""
        rep = " +rep" if drift.repeat_system else ""
        head = f"ss k={drift.k:.2f}" if drift.kind == "split_softmax" else f"ib b={drift.boost:g}"
        return f"{head} {drift.span}{layers}{rep}"
    if drift.kind == "cfg":
        return f"cfg g={drift.guidance:g}"
    return drift.kind


def layer_ranges(layers: Iterable[int]) -> str:
    """3,4,5,9 -> '3-5,9': labels stay short for half-model layer sets."""
    out: list[str] = []
    for i in sorted(set(layers)):
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == i - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        elif out and "-" not in out[-1] and int(out[-1]) == i - 1:
            out[-1] = f"{out[-1]}-{i}"
        else:
            out.append(str(i))
    return ",".join(out)


def parse_layers(text: str, spec: str) -> tuple[int, ...]:
    """'0-14' or '3+5+7' (commas separate the spec's keys) -> sorted layer indices."""
    layers: set[int] = set()
    try:
        for part in filter(None, text.split("+")):
            lo, dash, hi = part.partition("-")
            a, b = int(lo), int(hi) if dash else int(lo)
            if a < 0 or b < a:
                raise ValueError
            layers.update(range(a, b + 1))
    except ValueError:
        raise ProbeError(f"drift control {spec!r}: layers must look like 0-14 or 3+5+7, "
                         f"found {text!r}") from None  # fmt: skip
    return tuple(sorted(layers))


def parse_control(spec: str, settings: Settings | None = None) -> Control:
    """Turn one spec string into a Control, with a clear error for typos."""
    settings = settings or Settings()
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().replace("-", "_")
    if kind not in KINDS:
        raise ProbeError(f"unknown drift control {spec!r}; use one of {', '.join(KINDS)} "
                         "(e.g. split_softmax:k=0.5,span=turn or cfg:g=1.5) or 'all'")  # fmt: skip
    ss = settings.split_softmax
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ProbeError(f"drift control {spec!r}: expected key=value, found {part!r}")
        values[key.strip()] = value.strip()
    allowed = {"split_softmax": {"k"} | SPAN_KEYS, "instaboost": {"b"} | SPAN_KEYS, "cfg": {"g"}}.get(kind, set())
    extra = set(values) - allowed
    if extra:
        raise ProbeError(f"drift control {spec!r}: {kind} takes no {', '.join(sorted(extra))}; "
                         f"allowed keys: {', '.join(sorted(allowed)) or 'none'}")  # fmt: skip
    try:
        k = 1.0 if kind == "instaboost" else float(values.get("k", ss.k))
        g = float(values.get("g", 1.5))
        boost = float(values.get("b", 4.0)) if kind == "instaboost" else 1.0
    except ValueError:
        raise ProbeError(f"drift control {spec!r}: k, b and g must be numbers") from None
    span = values.get("span", ss.span)
    if not 0.0 < k <= 1.0:
        raise ProbeError(f"drift control {spec!r}: k must be in (0, 1], found {k}")
    if not 1.0 <= boost <= 1000.0:
        raise ProbeError(f"drift control {spec!r}: b must be in [1, 1000] (1 = stock), found {boost}")
    if span not in ("turn", "text"):
        raise ProbeError(f"drift control {spec!r}: span must be 'turn' or 'text', found {span!r}")
    if values.get("repeat", "0") not in ("0", "1"):
        raise ProbeError(f"drift control {spec!r}: repeat must be 0 or 1, found {values['repeat']!r}")
    spans = kind in ("split_softmax", "instaboost")
    if "layers" in values:
        layers = parse_layers(values["layers"], spec)
    else:
        layers = tuple(ss.layers) if spans else ()
    drift = DriftControl(kind=kind, k=k, span=span, layers=layers, guidance=g, boost=boost,  # type: ignore[arg-type]
                         repeat_system=values.get("repeat") == "1")  # fmt: skip
    return Control(label=label_of(drift), drift=drift)


def parse_controls(specs: Iterable[str], settings: Settings | None = None) -> list[Control]:
    """Parse several specs (comma-free items, or 'all'); duplicates are dropped."""
    out: list[Control] = []
    for spec in specs:
        items = FULL_GRID if spec.strip() == "all" else (spec,)
        for item in items:
            control = parse_control(item, settings)
            if control.label not in {c.label for c in out}:
                out.append(control)
    if not out:
        raise ProbeError("no drift controls given; pass e.g. --controls none --controls split_softmax")
    return out


def default_control(settings: Settings) -> Control:
    """The control chat uses by default (from the [split_softmax] settings)."""
    ss = settings.split_softmax
    if not ss.enabled:
        return parse_control("none", settings)
    return parse_control(f"split_softmax:k={ss.k},span={ss.span}", settings)

"""Drift-control specs from config and the command line."""

from __future__ import annotations

import pytest

from assistant.config import Settings, SplitSoftmaxSettings
from assistant.errors import ProbeError
from assistant.llm.base import DriftControl
from assistant.probes.controls import FULL_GRID, default_control, parse_control, parse_controls


def test_specs_parse_to_drift_controls() -> None:
    assert parse_control("none").drift == DriftControl(kind="none")
    ss = parse_control("split_softmax:k=0.25,span=text")
    assert (ss.drift.kind, ss.drift.k, ss.drift.span, ss.label) == ("split_softmax", 0.25, "text", "ss k=0.25 text")
    assert parse_control("cfg:g=2").drift.guidance == 2.0
    assert parse_control("repeat_system").label == "repeat_system"


def test_bare_split_softmax_takes_config_values() -> None:
    s = Settings(split_softmax=SplitSoftmaxSettings(k=0.3, span="text", layers=[0, 1]))
    c = parse_control("split_softmax", s)
    assert (c.drift.k, c.drift.span, c.drift.layers) == (0.3, "text", (0, 1))


def test_all_expands_to_full_grid_without_duplicates() -> None:
    controls = parse_controls(["none", "all"])
    assert len(controls) == len(FULL_GRID) == 9
    kinds = {c.drift.kind for c in controls}
    assert kinds == {"none", "split_softmax", "repeat_system", "cfg"}
    assert {c.drift.span for c in controls if c.drift.kind == "split_softmax"} == {"turn", "text"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("splitsoftmax", "unknown drift control"),
        ("split_softmax:k=2", "k must be in (0, 1]"),
        ("split_softmax:span=all", "span must be 'turn' or 'text'"),
        ("cfg:k=0.5", "cfg takes no k"),
        ("split_softmax:k", "expected key=value"),
        ("cfg:g=lots", "must be numbers"),
    ],
)
def test_bad_specs_explain(spec: str, message: str) -> None:
    with pytest.raises(ProbeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_control(spec)


def test_default_control_follows_split_softmax_settings() -> None:
    assert default_control(Settings()).label == "ss k=0.50 text"
    off = Settings(split_softmax=SplitSoftmaxSettings(enabled=False))
    assert default_control(off).label == "none"


def test_instaboost_layer_sets_and_repeat_parse() -> None:
    ib = parse_control("instaboost:b=10,span=text")
    assert (ib.drift.kind, ib.drift.boost, ib.drift.k, ib.label) == ("instaboost", 10.0, 1.0, "ib b=10 text")
    half = parse_control("split_softmax:k=0.5,span=text,layers=0-14")
    assert half.drift.layers == tuple(range(15)) and half.label == "ss k=0.50 text L0-14"
    assert parse_control("split_softmax:k=0.5,layers=1+3-5").drift.layers == (1, 3, 4, 5)
    both = parse_control("split_softmax:k=0.5,span=text,repeat=1")
    assert both.drift.repeat_system and both.label == "ss k=0.50 text +rep"
    assert not parse_control("split_softmax:k=0.5").drift.repeat_system


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("instaboost:b=0.5", "b must be in"),
        ("instaboost:k=0.5", "takes no k"),
        ("split_softmax:layers=5-2", "layers must look like"),
        ("split_softmax:repeat=yes", "repeat must be 0 or 1"),
        ("cfg:layers=1", "takes no layers"),
    ],
)
def test_bad_new_keys_explain(spec: str, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        parse_control(spec)

"""A small run on the real default model: curve, PNG and JSON record come out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.probes.benchmark import run_benchmark
from assistant.probes.history import save_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_two_cases_two_rounds_two_controls(real_engine: object, home: Path) -> None:
    seen: list[int] = []
    record = run_benchmark(
        Settings(), real_engine,  # type: ignore[arg-type]
        controls=["none", "split_softmax:k=0.5,span=turn"], families=["persona", "memory"], cases=2,
        rounds=2, max_new_tokens=16, persona=False, general=False, progress=lambda w, d, t: seen.append(d),
    )  # fmt: skip
    files = save_run(record)
    assert seen[-1] == 2 * (1 + 2 * 2 + 1)
    assert len(record["cases"]) == 2
    for control in record["controls"]:
        assert [p["round"] for p in control["curve"]] == [0, 1, 2]
        assert all(0.0 <= p["lo"] <= p["mean"] <= p["hi"] <= 1.0 for p in control["curve"])
        answers = [a for rounds in control["answers"].values() for samples in rounds for a in samples]
        assert len(answers) == 2 * 3 and all(isinstance(a, str) for a in answers)
        assert any(a.strip() for a in answers)  # the model said something
    png = Path(files["png"]).read_bytes()
    assert png[:8] == PNG_SIGNATURE and len(png) > 10_000
    saved = json.loads(Path(files["json"]).read_text())
    assert saved["id"] == record["id"] and saved["options"]["decoding"] == "greedy"


@pytest.mark.slow
def test_nightly_on_the_real_model_opens_with_a_verdict(real_engine: object, home: Path) -> None:
    from assistant.config import ProbesSettings
    from assistant.probes.nightly import run_nightly

    settings = Settings(probes=ProbesSettings(rounds=1, cases=2, families=["recall", "identity"],
                                              controls=["none"], alert_threshold=0.0))  # fmt: skip
    sent: list[str] = []
    record = run_nightly(settings, real_engine, alert=sent.append)  # type: ignore[arg-type]
    assert [c["family"] for c in record["cases"]] == ["persona", "identity", "recall"]
    assert record["options"]["probe_max_new_tokens"] == 12
    first_line = Path(record["files"]["md"]).read_text(encoding="utf-8").splitlines()[2]
    assert first_line == f"**{record['verdict']}**"
    assert record["verdict"].split(":")[0] in ("Still following its instructions after 1 round", "Drifting",
                                               "Not following its own persona", "Rarely following its instructions")  # fmt: skip
    assert bool(sent) == bool(record["alerts"])

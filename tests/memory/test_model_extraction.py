"""The real default model as fact extractor: whatever it answers, observe() keeps the rules' facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from memory.store import open_store


@pytest.mark.slow
def test_observe_with_the_real_model_never_loses_rule_facts(
    real_engine: object, store_path: Path
) -> None:
    with open_store(Settings(), path=store_path, llm=real_engine) as store:
        facts = store.profile.observe("ann", "I live in Lisbon and I'm interested in sailing.")
        texts = {f.text for f in facts}
        assert {"User lives in Lisbon", "User is interested in sailing"} <= texts
        assert all(0.0 < f.confidence <= 1.0 for f in facts)
        # anything the model added is grounded in what was said and capped below the rules
        for f in facts:
            if f.text not in {"User lives in Lisbon", "User is interested in sailing"}:
                assert f.confidence <= 0.75
        small_talk = store.profile.observe("ann", "Thanks, that's all for now.")
        assert all(
            f.confidence <= 0.75 for f in small_talk
        )  # no rule fires; only grounded model guesses

"""IFEval's programmatic checkers, used from the installed lm-eval package (not copied here).

S-IFEval items name their constraints by IFEval instruction id ("punctuation:no_comma")
with keyword arguments. `follows` returns one pass/fail per instruction, strict (the
reply as written) or loose (IFEval's upper bound: also tried without the first or last
line and without markdown asterisks).

Two checkers need NLTK's punkt sentence data, which no PyPI package ships and which cannot
be downloaded where the assistant runs offline; items using them are reported as dropped
(`OFFLINE_UNSUPPORTED`), never silently scored.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType
from typing import Any

from assistant.errors import ProbeError

# length_constraints:number_sentences loads punkt's english.pickle; capital_word_frequency
# calls nltk.word_tokenize, which needs punkt_tab
OFFLINE_UNSUPPORTED = frozenset({"length_constraints:number_sentences", "change_case:capital_word_frequency"})


@cache
def _utils() -> ModuleType:
    """lm-eval's ifeval helpers, imported without the punkt download their import attempts.

    The checkers used here never read punkt (see OFFLINE_UNSUPPORTED), and a judge must not
    reach the network: nltk.download is a no-op while the module loads.
    """
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    try:
        import nltk

        real_download = nltk.download
        nltk.download = lambda *a, **k: False  # type: ignore[assignment]
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                from lm_eval.tasks.ifeval import utils
        finally:
            nltk.download = real_download  # type: ignore[assignment]
    except ImportError as exc:
        raise ProbeError(f"IFEval checkers unavailable ({exc}); install them with "
                         "`pip install lm-eval langdetect immutabledict` (make install does)") from None  # fmt: skip
    return utils


def known_ids() -> frozenset[str]:
    """Every instruction id the installed checkers know."""
    from lm_eval.tasks.ifeval import instructions_registry

    _utils()
    return frozenset(instructions_registry.INSTRUCTION_DICT)


def follows(
    response: str,
    instruction_ids: Sequence[str],
    kwargs: Sequence[Mapping[str, Any]],
    *,
    prompt: str = "",
    loose: bool = False,
) -> list[bool]:
    """One bool per instruction: does `response` follow it (IFEval strict, or loose)?"""
    bad = sorted(set(instruction_ids) & OFFLINE_UNSUPPORTED)
    if bad:
        raise ProbeError(f"checker(s) {', '.join(bad)} need NLTK's punkt data, which is not available offline; "
                         "leave these instructions out")  # fmt: skip
    if len(instruction_ids) != len(kwargs):
        raise ProbeError("IFEval item: instruction_id_list and kwargs must have the same length")
    utils = _utils()
    unknown = sorted(set(instruction_ids) - known_ids())
    if unknown:
        raise ProbeError(f"unknown IFEval instruction id(s) {', '.join(unknown)}")
    example = utils.InputExample(key=0, instruction_id_list=list(instruction_ids), prompt=prompt,
                                 kwargs=[dict(k) for k in kwargs])  # fmt: skip
    test = utils.test_instruction_following_loose if loose else utils.test_instruction_following_strict
    return [bool(x) for x in test(example, response).follow_instruction_list]

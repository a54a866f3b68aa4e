"""S-IFEval probes: IFEval's installed checkers judge replies; filler rounds, branches and
summaries route as documented (scripted model); items needing punkt are counted, not scored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.errors import ProbeError
from assistant.llm.base import Message
from assistant.probes.controls import parse_control
from assistant.probes.ifeval_check import follows
from assistant.probes.judges import score
from assistant.probes.sifeval import (
    FILLER,
    Item,
    Options,
    converse,
    followed_types,
    load_items,
    run_control,
    summarise,
)
from tests.fakes import ScriptedChatModel


def test_checkers_fail_a_reply_that_breaks_the_constraint() -> None:
    assert follows("red, green and blue", ["punctuation:no_comma"], [{}]) == [False]
    assert follows("red green and blue", ["punctuation:no_comma"], [{}]) == [True]
    assert follows("Hello there", ["change_case:english_lowercase"], [{}]) == [False]
    ends = [{"end_phrase": "Is there anything else I can help with?"}]
    assert follows("Done. Is there anything else I can help with?", ["startend:end_checker"], ends) == [True]


def test_loose_forgives_a_preamble_line_strict_does_not() -> None:
    reply = 'Sure, here it is:\n"a quoted answer"'
    assert follows(reply, ["startend:quotation"], [{}]) == [False]
    assert follows(reply, ["startend:quotation"], [{}], loose=True) == [True]


def test_punkt_checkers_refuse_instead_of_guessing() -> None:
    with pytest.raises(ProbeError, match="punkt"):
        follows("One. Two.", ["length_constraints:number_sentences"], [{"num_sentences": 2, "relation": "less than"}])


def test_ifeval_judge_scores_all_instructions_together() -> None:
    args = {"instructions": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]}
    assert score("ifeval", "all lower and no commas here", args) == 1.0
    assert score("ifeval", "all lower, but a comma", args) == 0.0


def _line(key: int, ids: list[str], kwargs: list[dict[str, object]]) -> str:
    return json.dumps({"key": key, "prompt": "p", "instruction_id_list": ids, "kwargs": kwargs,
                       "messages": [{"role": "system", "content": f"rule {key}"},
                                    {"role": "user", "content": f"task {key}"}]})  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join([
        _line(1, ["punctuation:no_comma"], [{}]),
        _line(2, ["change_case:english_lowercase"], [{}]),
        _line(3, ["length_constraints:number_sentences"], [{"num_sentences": 2, "relation": "less than"}]),
        _line(4, ["punctuation:no_comma", "detectable_format:title"], [{}, {}]),
    ]), encoding="utf-8")  # fmt: skip
    return path


def test_items_needing_punkt_are_dropped_and_counted(data: Path) -> None:
    loaded = load_items(data)
    assert [it.key for it in loaded.items] == [1, 2, 4]
    assert loaded.dropped == {"needs NLTK punkt data: length_constraints:number_sentences": 1}
    only = load_items(data, types=["punctuation:no_comma"])
    assert [it.key for it in only.items] == [1] and only.dropped["type not selected"] == 2


def test_missing_file_says_which_flag_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="--data"):
        load_items(tmp_path / "nope.jsonl")


def forgets_after_three_rounds(messages: Sequence[Message]) -> str:
    """Obeys 'no commas' until it has answered three filler requests, then uses commas."""
    answered = sum(1 for m in messages if m["role"] == "assistant")
    if messages[-1]["content"].startswith("task"):
        return "a plain answer with no commas" if answered < 3 else "an answer, with, commas"
    return "ok"


def test_task_branches_see_n_filler_rounds_and_never_stay_in_the_chat(data: Path) -> None:
    items = load_items(data).items
    llm = ScriptedChatModel(forgets_after_three_rounds)
    replies = converse(llm, items, parse_control("none"), Options(rounds=(0, 2, 4)))
    assert sorted(replies) == [0, 2, 4]
    tasks = [c for c in llm.calls if c[-1]["content"].startswith("task")]
    assert len(tasks) == 3 * len(items)
    after4 = [c for c in tasks if sum(m["role"] == "assistant" for m in c) == 4]
    assert len(after4) == len(items)
    users = [m["content"] for m in after4[0] if m["role"] == "user"]
    assert users == [*FILLER[:4], "task 1"]  # system, 4 filler rounds, then the task
    assert not any(m["content"].startswith("task") for c in llm.calls for m in c[:-1])


def test_summary_shows_drift_from_round_zero(data: Path) -> None:
    items = [it for it in load_items(data).items if it.instruction_ids == ("punctuation:no_comma",)]
    opts = Options(rounds=(0, 4))
    run = run_control(ScriptedChatModel(forgets_after_three_rounds), items, parse_control("none"), opts)
    summary = summarise([run], items, opts.rounds, opts.seed)["none"]
    assert summary["by_n"]["0"]["prompt_strict"]["mean"] == 1.0
    assert summary["by_n"]["4"]["prompt_strict"]["mean"] == 0.0
    assert summary["by_n"]["4"]["prompt_strict_vs_n0"]["mean"] == -1.0
    assert summary["per_type"]["punctuation:no_comma"] == {"n": 1, "0": 1, "4": 0}
    assert followed_types(run, items) == ["punctuation:no_comma"]


def test_controls_are_compared_on_the_same_items(data: Path) -> None:
    items = load_items(data).items
    opts = Options(rounds=(0,))
    bad = run_control(ScriptedChatModel(lambda m: "Commas, everywhere, Always"), items, parse_control("none"), opts)
    good = run_control(ScriptedChatModel(lambda m: "<<a short title>> here is a plain english answer without any commas at all for you today"), items,
                       parse_control("split_softmax"), opts)  # fmt: skip
    summary = summarise([bad, good], items, opts.rounds, opts.seed)
    gain = summary[good["label"]]["by_n"]["0"]["prompt_strict_vs_none"]
    assert gain["mean"] == pytest.approx(1.0) and gain["n"] == len(items)
    assert summary["none"]["by_n"]["0"]["instruction_strict"]["n"] == 4  # 1 + 1 + 2 instructions


def test_rounds_beyond_the_filler_list_are_refused() -> None:
    with pytest.raises(ProbeError, match="between 0 and"):
        Options(rounds=(0, len(FILLER) + 1))


def test_item_fields_come_from_the_messages(data: Path) -> None:
    item = load_items(data).items[0]
    assert item == Item(key=1, system="rule 1", user="task 1", prompt="p",
                        instruction_ids=("punctuation:no_comma",), kwargs=({},))  # fmt: skip


def test_tables_show_the_drop_and_flag_echoed_prompts(data: Path) -> None:
    from assistant.probes.sifeval_report import echo, main_table, type_table

    items = [it for it in load_items(data).items if it.instruction_ids == ("punctuation:no_comma",)]
    opts = Options(rounds=(0, 4))
    run = run_control(ScriptedChatModel(forgets_after_three_rounds), items, parse_control("none"), opts)
    record = {"runs": [run], "summary": summarise([run], items, opts.rounds, opts.seed)}
    rows = main_table(record).splitlines()
    assert rows[2].startswith("| none | 0 | 1.000") and "| -1.000 [-1.000, -1.000] |" in rows[3]
    assert "| punctuation:no_comma | 1 | 1 | 0 |" in type_table(record)
    system = "The response must contain at least 3 placeholders in square brackets."
    assert echo("Sure. The response must contain at least 3 placeholders [a] [b] [c]", system)
    assert not echo("Dear [name], welcome to [company] at [address].", system)


def test_drift_is_counted_on_the_items_followed_at_the_start_with_cost_vs_none(data: Path) -> None:
    from assistant.probes.sifeval_report import decision_table

    items = load_items(data).items  # items 1 and 4 need no commas; 2 all lowercase
    opts = Options(rounds=(0, 4))
    forgets = run_control(ScriptedChatModel(forgets_after_three_rounds), items, parse_control("none"), opts)
    holds = run_control(ScriptedChatModel(lambda m: "ok" if not m[-1]["content"].startswith("task") else "here is a plain english answer without any commas at all for you today"),
                        items, parse_control("split_softmax"), opts)  # fmt: skip
    forgets["cpu_seconds"], holds["cpu_seconds"] = 10.0, 12.0
    summary = summarise([forgets, holds], items, opts.rounds, opts.seed)
    lost = summary["none"]["kept"]
    # items 1 and 2 pass at N = 0; at N = 4 the commas break item 1, item 2 stays lowercase
    assert (lost["followed"], lost["kept"], lost["change"]["mean"]) == (2, 1, -0.5)
    held = summary[holds["label"]]["kept"]
    assert (held["followed"], held["kept"], held["change"]["mean"]) == (2, 2, 0.0)
    assert summary[holds["label"]]["cost_vs_none"] == 1.2
    row = decision_table({"summary": summary}).splitlines()[3]
    assert row.startswith(f"| {holds['label']} | 4 |") and "| 1.2 | 2 -> 2 |" in row

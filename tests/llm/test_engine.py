"""Engine behaviour on a tiny random Llama that uses SmolLM2's tokenizer and chat template."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from assistant.llm.base import ChatModel, DriftControl, Message
from assistant.llm.engine import Engine
from tests.llm.conftest import make_engine

SYSTEM = "You are Ada, a concise personal assistant. Answer in one short sentence."
NONE = DriftControl(kind="none")
SPLIT = DriftControl(kind="split_softmax", k=0.5)


def convo(*turns: str) -> list[Message]:
    msgs: list[Message] = [{"role": "system", "content": SYSTEM}]
    for i, text in enumerate(turns):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return msgs


def test_engine_implements_chat_model(tiny_engine: Engine) -> None:
    assert isinstance(tiny_engine, ChatModel)
    assert tiny_engine.count_tokens("hello world") == 2


@pytest.mark.parametrize("control", [NONE, SPLIT], ids=["none", "split"])
def test_streaming_joins_to_the_same_text_as_chat(
    tiny_engine: Engine, control: DriftControl
) -> None:
    msgs = convo("Tell me about the sea.")
    for temperature, seed in [(0.0, None), (0.8, 7)]:
        result = tiny_engine.chat(
            msgs, max_new_tokens=24, temperature=temperature, seed=seed, control=control
        )
        pieces = list(
            tiny_engine.stream(
                msgs, max_new_tokens=24, temperature=temperature, seed=seed, control=control
            )
        )
        assert "".join(pieces) == result.text
        assert len(pieces) > 1
        assert result.completion_tokens == 24 and result.finish_reason == "length"
        assert result.prompt_tokens > 20 and result.time_to_first_token_s > 0


def test_same_seed_same_sample_other_seed_differs(tiny_engine: Engine) -> None:
    msgs = convo("Pick words.")
    a = tiny_engine.chat(msgs, max_new_tokens=16, temperature=1.0, seed=1).text
    b = tiny_engine.chat(msgs, max_new_tokens=16, temperature=1.0, seed=1).text
    c = tiny_engine.chat(msgs, max_new_tokens=16, temperature=1.0, seed=2).text
    assert a == b != c


def test_stop_string_ends_the_reply_and_is_not_shown(tiny_engine: Engine) -> None:
    msgs = convo("Go on.")
    full = tiny_engine.chat(msgs, max_new_tokens=24, temperature=0.0, control=NONE).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = tiny_engine.chat(msgs, max_new_tokens=24, temperature=0.0, control=NONE, stop=[stop])
    assert cut.finish_reason == "stop"
    assert cut.text == full[: full.find(stop)]
    streamed = "".join(
        tiny_engine.stream(msgs, max_new_tokens=24, temperature=0.0, control=NONE, stop=[stop])
    )
    assert streamed == cut.text


@pytest.mark.parametrize(
    "control", [NONE, SPLIT, DriftControl(kind="repeat_system")], ids=lambda c: c.kind
)
def test_prefix_reuse_gives_the_same_logits_as_a_full_prefill(
    tiny_engine: Engine, control: DriftControl
) -> None:
    first = convo("Hello there, how are you today?")
    reply = tiny_engine.chat(
        first, max_new_tokens=12, temperature=0.0, control=control, conversation_id="c1"
    )
    second = [
        *first,
        {"role": "assistant", "content": reply.text},
        {"role": "user", "content": "And then?"},
    ]
    reused = tiny_engine.next_token_logits(second, control=control, conversation_id="c1")
    assert tiny_engine.last_reused_tokens > reply.prompt_tokens // 2
    fresh = tiny_engine.next_token_logits(second, control=control)
    assert tiny_engine.last_reused_tokens == 0
    assert (reused - fresh).abs().max().item() <= 1e-4
    # And the generated turn is the same, with the prefix counted as reused.
    third = [
        *second,
        {"role": "assistant", "content": "Fine."},
        {"role": "user", "content": "More."},
    ]
    warm = tiny_engine.chat(
        third, max_new_tokens=12, temperature=0.0, control=control, conversation_id="c1"
    )
    cold = tiny_engine.chat(third, max_new_tokens=12, temperature=0.0, control=control)
    assert warm.text == cold.text
    assert warm.extra["reused_tokens"] > 0 and cold.extra["reused_tokens"] == 0


def test_prefix_cache_is_keyed_on_the_control(tiny_engine: Engine) -> None:
    msgs = convo("Hello there.")
    tiny_engine.next_token_logits(msgs, control=SPLIT, conversation_id="c2")
    tiny_engine.next_token_logits(msgs, control=NONE, conversation_id="c2")
    assert (
        tiny_engine.last_reused_tokens == 0
    )  # other control: the split-softmax keys are not reused
    tiny_engine.next_token_logits(msgs, control=NONE, conversation_id="c2")
    assert tiny_engine.last_reused_tokens > 0


def test_prefix_cache_is_bounded(smol_tokenizer: Any) -> None:
    engine = make_engine(smol_tokenizer, prefix_cache_conversations=2)
    for cid in ["a", "b", "c"]:
        engine.next_token_logits(convo(f"Hi {cid}"), conversation_id=cid)
    assert len(engine.prefix_cache) == 2
    engine.next_token_logits(convo("Hi a"), conversation_id="a")
    assert engine.last_reused_tokens == 0  # "a" was the least recently used and went first


@pytest.mark.parametrize("control", [NONE, SPLIT], ids=["none", "split"])
def test_batch_equals_one_by_one(
    tiny_engine: Engine, control: DriftControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.llm.engine.PREFILL_CHUNK", 40)  # background prefill in chunks
    convs = [
        convo("Short."),
        convo("A somewhat longer question about the weather tomorrow?"),
        [{"role": "user", "content": "No system prompt here."}],
    ]
    batch = tiny_engine.chat_batch(convs, max_new_tokens=10, temperature=0.0, control=control)
    single = [
        tiny_engine.chat(c, max_new_tokens=10, temperature=0.0, control=control).text for c in convs
    ]
    assert [r.text for r in batch] == single
    # A row that ends early leaves the batch; the others go on unchanged.
    first_of_row_1 = int(tiny_engine.next_token_logits(convs[1], control=control).argmax())
    tiny_engine._eos = {first_of_row_1}
    batch = tiny_engine.chat_batch(convs, max_new_tokens=10, temperature=0.0, control=control)
    assert batch[1].completion_tokens == 1 and batch[1].finish_reason == "stop"
    assert [r.text for r in batch] == [
        tiny_engine.chat(c, max_new_tokens=10, temperature=0.0, control=control).text for c in convs
    ]


@pytest.mark.parametrize(
    "control", [NONE, SPLIT, DriftControl(kind="split_softmax", k=0.5, span="text")]
)
def test_batch_with_a_shared_system_prompt_prefills_it_once(
    tiny_engine: Engine, control: DriftControl
) -> None:
    convs = [
        convo("Short."),
        convo("A somewhat longer question about the weather tomorrow?"),
        convo("Third."),
    ]
    batch = tiny_engine.chat_batch(convs, max_new_tokens=8, temperature=0.0, control=control)
    assert batch[0].extra["shared_prefix_tokens"] > 16
    single = [
        tiny_engine.chat(c, max_new_tokens=8, temperature=0.0, control=control).text for c in convs
    ]
    assert [r.text for r in batch] == single


def test_cfg_with_guidance_1_is_the_conditional_model(tiny_engine: Engine) -> None:
    msgs = convo("Tell me something.")
    plain = tiny_engine.chat(msgs, max_new_tokens=10, temperature=0.0, control=NONE).text
    cfg1 = tiny_engine.chat(
        msgs, max_new_tokens=10, temperature=0.0, control=DriftControl(kind="cfg", guidance=1.0)
    ).text
    cfg3 = tiny_engine.chat(
        msgs, max_new_tokens=10, temperature=0.0, control=DriftControl(kind="cfg", guidance=3.0)
    ).text
    assert cfg1 == plain
    assert cfg3 != plain


def test_split_softmax_changes_the_reply_only_below_k_1(tiny_engine: Engine) -> None:
    msgs = convo("Tell me something.")
    plain = tiny_engine.next_token_logits(msgs, control=NONE)
    k1 = tiny_engine.next_token_logits(msgs, control=DriftControl(kind="split_softmax", k=1.0))
    k03 = tiny_engine.next_token_logits(msgs, control=DriftControl(kind="split_softmax", k=0.3, span="turn"))
    text = tiny_engine.next_token_logits(
        msgs, control=DriftControl(kind="split_softmax", k=0.3, span="text")
    )
    assert torch.equal(plain, k1)
    assert (plain - k03).abs().max() > 1e-4
    assert (k03 - text).abs().max() > 1e-6  # the span choice matters


def test_system_prompt_survives_the_context_budget(smol_tokenizer: Any) -> None:
    engine = make_engine(smol_tokenizer, context_tokens=256)
    turns = [f"Message number {i}: " + "words " * 20 for i in range(20)]
    result = engine.chat(convo(*turns, "Last question?"), max_new_tokens=32, temperature=0.0)
    assert result.dropped_turns > 0
    assert result.prompt_tokens <= 256 - 32
    from assistant.llm.chat_format import build_prompt

    prompt = build_prompt(smol_tokenizer, convo(*turns, "Last question?"), 256 - 32)
    text = smol_tokenizer.decode(prompt.ids)
    assert text.startswith("<|im_start|>system\n" + SYSTEM + "<|im_end|>")
    assert "Last question?" in text and "Message number 0:" not in text
    assert prompt.turn_span[1] > prompt.text_span[1] - prompt.text_span[0] > 5


def test_interactive_request_goes_before_a_running_background_batch(smol_tokenizer: Any) -> None:
    engine = make_engine(smol_tokenizer)
    done: list[str] = []

    def background() -> None:
        engine.chat_batch(
            [convo("Summarise.")] * 4, max_new_tokens=300, temperature=0.0, control=NONE
        )
        done.append("background")

    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(0.3)  # the batch is decoding now
    engine.chat(convo("Quick!"), max_new_tokens=4, temperature=0.0, control=NONE)
    done.append("interactive")
    worker.join()
    assert done == ["interactive", "background"]


def test_shared_engine_loads_once_per_process(
    monkeypatch: pytest.MonkeyPatch, tiny_engine: Engine
) -> None:
    from assistant.config import Settings
    from assistant.llm import engine as engine_module

    calls: list[object] = []
    monkeypatch.setattr(engine_module, "_SHARED", {})
    monkeypatch.setattr(engine_module, "load_engine", lambda s: calls.append(s) or tiny_engine)
    first = engine_module.shared_engine(Settings())
    assert engine_module.shared_engine(Settings()) is first is tiny_engine
    assert len(calls) == 1


BOOST = DriftControl(kind="instaboost", boost=8.0)
SPLIT_REPEAT = DriftControl(kind="split_softmax", k=0.5, repeat_system=True)


def test_instaboost_changes_the_reply_only_above_1(tiny_engine: Engine) -> None:
    msgs = convo("Tell me something.")
    plain = tiny_engine.next_token_logits(msgs, control=NONE)
    off = tiny_engine.next_token_logits(msgs, control=DriftControl(kind="instaboost", boost=1.0))
    assert torch.equal(plain, off)
    boosted = tiny_engine.next_token_logits(msgs, control=BOOST)
    assert (plain - boosted).abs().max() > 1e-4
    split = tiny_engine.next_token_logits(msgs, control=SPLIT)
    assert (split - boosted).abs().max() > 1e-6  # another reweighting than pi ** k


def test_split_with_repeat_system_is_neither_alone(tiny_engine: Engine) -> None:
    """The repeated prompt is in the context (more prompt tokens) and the split still applies."""
    msgs = convo("Hi.", "Hello!", "Tell me something.")
    both = tiny_engine.chat(msgs, max_new_tokens=6, temperature=0.0, control=SPLIT_REPEAT)
    repeat = tiny_engine.chat(msgs, max_new_tokens=6, temperature=0.0, control=DriftControl(kind="repeat_system"))
    split = tiny_engine.chat(msgs, max_new_tokens=6, temperature=0.0, control=SPLIT)
    assert both.prompt_tokens == repeat.prompt_tokens > split.prompt_tokens
    logits = {
        name: tiny_engine.next_token_logits(msgs, control=c)
        for name, c in [("both", SPLIT_REPEAT), ("repeat", DriftControl(kind="repeat_system"))]
    }
    assert (logits["both"] - logits["repeat"]).abs().max() > 1e-4


@pytest.mark.parametrize("control", [BOOST, SPLIT_REPEAT], ids=["instaboost", "split+repeat"])
def test_new_controls_batch_equals_one_by_one(tiny_engine: Engine, control: DriftControl) -> None:
    convs = [convo("Short."), convo("A somewhat longer question about the weather tomorrow?"), convo("Third.")]
    batch = tiny_engine.chat_batch(convs, max_new_tokens=8, temperature=0.0, control=control)
    single = [tiny_engine.chat(c, max_new_tokens=8, temperature=0.0, control=control).text for c in convs]
    assert [r.text for r in batch] == single

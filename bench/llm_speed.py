"""Speed of the local chat engine, measured side by side in one run; prints JSON.

    .venv/bin/python bench/llm_speed.py            # about 3-5 minutes on 2 cores
    .venv/bin/python bench/llm_speed.py --quick    # a smoke run (well under a minute of model time)

Sections (each a key in the JSON):
  decode        tokens/s with transformers' sdpa, the engine's stock attention and
                split-softmax (same weights and dtype, interleaved runs)
  decode_step_pairs  per-token forward time, stock and split-softmax back to back, with the
                native attention kernel and with torch's (at 300 and 1000 cached tokens)
  native_int4   decode step time at 1 and 8 rows with the native int4 kernel vs torch's
  decode_weights     packed int4 decode weights (model.packed_decode = auto) vs dense
  dtype         float32 vs bfloat16 stock (the CPU `auto` dtype choice)
  ttft_turns    time to first token at turns 1, 10, 20 of a scripted conversation,
                with the prefix KV cache vs a full re-prefill
  start         cold start (GGUF conversion) vs warm start (converted cache), in fresh processes;
                chat_first_reply: `assistant chat` in a fresh data directory, one message,
                to the end of its reply (first start, then warm), wall seconds of the process
  summaries     summaries per minute, one by one vs one batch of 8
  interactive   time to first token of a chat while a background batch runs vs idle
  llama_cpp     (--vs-llama-cpp, when llama_cpp is importable: `make bench-llama-cpp`)
                decode tokens/s of the same GGUF through llama.cpp vs this engine

    .venv/bin/python bench/llm_speed.py --busy     # OpenMP policies, quiet vs one core busy
    .venv/bin/python bench/llm_speed.py --isa avx2 # as if the CPU had only AVX2 (any section)
    .venv/bin/python bench/llm_speed.py --isa avx2 --start-only   # the start section alone

--isa avx2 sets ASSISTANT_CPU_ISA=avx2 and ATEN_CPU_CAPABILITY=avx2 before torch loads:
the AVX2 native kernels, `model.dtype = auto` as on an AVX2 CPU, and torch's own AVX2
kernels, on any x86 machine (machine.cpu in the JSON says which path ran).

--busy runs one fresh process per OpenMP policy (the wait policy is read when the runtime
starts): the assistant's defaults (assistant/runtime_env.py), libgomp's own default,
passive, active and spin-count variants. Each measures, alternating quiet and with one
core kept busy by a process it starts and stops itself: chat decode tokens/s, time to
first token, summaries per minute and memory query latency (p95).
Machines are shared and noisy: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from assistant.config import ModelSettings, Settings  # noqa: E402
from assistant.llm.base import DriftControl, Message  # noqa: E402

SYSTEM = Settings().persona.system_prompt
STOCK = DriftControl(kind="none")
SPLIT = DriftControl(kind="split_softmax", k=0.5)
BOOST = DriftControl(kind="instaboost", boost=10.0)  # S-IFEval phase 3's stronger boost
STORY = "Write a long, detailed story about a lighthouse keeper and a storm."
ARTICLE = (
    "Large language models drift away from their system prompt as a conversation grows. "
    "The authors measure this drift with self-chat between two model instances and trace "
    "it to attention decay: each new token pays less attention to the system prompt. "
    "They propose split-softmax, a training-free change to attention that raises the "
    "share of attention on the system prompt by a power law, and compare it with "
    "repeating the system prompt and with classifier-free guidance."
)


def convo(user: str) -> list[Message]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def interleaved(runners: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of each runner over `rounds`, taking turns so all see the same machine load."""
    runs: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            runs[name].append(run())
    return {name: statistics.median(values) for name, values in runs.items()}


def decode_rate(engine: Any, tokens: int, control: DriftControl | None = None) -> float:
    """Decode tokens/s of one greedy story (first token excluded)."""
    r = engine.chat(convo(STORY), max_new_tokens=tokens, temperature=0.0, control=control)
    return float(r.extra["decode_tokens_per_s"])


def decode_speed(engine: Any, tokens: int, rounds: int) -> dict[str, Any]:
    """Interleave the runs so all see the same machine load.

    Three ways to decode, same weights and dtype: transformers' own sdpa attention, the
    engine's stock attention (sdpa with GQA heads folded for one-token steps), and
    split-softmax. The first is the "stock attention" of the issue's target; the second
    is what `control = none` runs in this engine.
    """
    from assistant.llm.split_softmax import IMPLEMENTATION

    def with_transformers_sdpa() -> float:
        engine.model.set_attn_implementation("sdpa")
        try:
            return decode_rate(engine, tokens, STOCK)
        finally:
            engine.model.set_attn_implementation(IMPLEMENTATION)

    decode_rate(engine, 8, SPLIT)  # warm-up
    med = interleaved(
        {
            "transformers_sdpa": with_transformers_sdpa,
            "stock": lambda: decode_rate(engine, tokens, STOCK),
            "split_softmax": lambda: decode_rate(engine, tokens, SPLIT),
            "instaboost": lambda: decode_rate(engine, tokens, BOOST),
        },
        rounds,
    )
    return {
        "dtype": str(engine.loaded.dtype).removeprefix("torch."),
        "decode_weights": engine.loaded.decode_weights,
        "new_tokens": tokens,
        **{f"{n}_tok_s": round(v, 2) for n, v in med.items()},
        "split_vs_stock": round(med["split_softmax"] / med["stock"], 3),
        "split_vs_transformers_sdpa": round(med["split_softmax"] / med["transformers_sdpa"], 3),
        "instaboost_vs_stock": round(med["instaboost"] / med["stock"], 3),
    }


def packed_vs_dense(engines: dict[str, Any], tokens: int, rounds: int) -> dict[str, Any]:
    """Decode with the GGUF's packed 4/8-bit codes vs the dense copy (default control)."""
    runners = {n: functools.partial(decode_rate, e, tokens) for n, e in engines.items()}
    med = interleaved(runners, rounds)
    return {
        **{f"{n}_tok_s": round(v, 2) for n, v in med.items()},
        "packed_vs_dense": round(med["packed"] / med["dense"], 3),
    }


def decode_step_pairs(engine: Any, steps: int, context: int = 300) -> dict[str, Any]:
    """Per-token forward time of stock and split-softmax, with the native kernel and torch's.

    The four variants run back to back at each step: measured a few milliseconds apart,
    they see the same machine load, so their ratios are far steadier on a shared machine
    than whole generations.
    """
    import torch

    from assistant.llm import native_attention
    from assistant.llm import split_softmax as ss
    from assistant.llm.kv_cache import new_cache

    model = engine.model
    step = engine.decode_step  # what the engine's decode loop calls, when the model allows it
    prompt = engine.tokenizer.apply_chat_template(convo(STORY * 80), tokenize=False)
    ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"][
        :, :context
    ]
    span = engine.tokenizer.apply_chat_template(convo(STORY)[:1], tokenize=False)
    spec = ss.SplitSpec.from_spans(SPLIT.k, [(0, len(engine.tokenizer(span)["input_ids"]))])
    native = native_attention.KERNEL.status() is None
    variants = {  # name: (split spec, native kernel on)
        "stock": (None, native),
        "split_softmax": (spec, native),
        "stock_torch_kernel": (None, False),
        "split_softmax_torch_kernel": (spec, False),
    }
    caches: dict[str, Any] = {}
    times: dict[str, list[float]] = {name: [] for name in variants}
    token = torch.tensor([[ids[0, -1].item()]])

    @torch.inference_mode()
    def measure() -> None:
        for name, (sp, _) in variants.items():
            caches[name] = new_cache(model.config)
            with ss.split_context(sp):
                model(input_ids=ids, cache=caches[name], logits_to_keep=1)
        try:
            for _ in range(steps):
                for name, (sp, on) in variants.items():
                    native_attention.KERNEL.configure(on)
                    began = time.perf_counter()
                    with ss.split_context(sp):
                        if step is not None:
                            step(token, caches[name])
                        else:
                            model(input_ids=token, cache=caches[name], logits_to_keep=1)
                    times[name].append(time.perf_counter() - began)
                    caches[name].crop(-1)  # same context length at every step
        finally:
            native_attention.KERNEL.configure(native)

    # On the engine's torch thread: a torch op on this thread would start a second
    # OpenMP pool and slow every op of both (assistant/llm/gate.py, shared_gate).
    engine.gate.run(measure)

    def speed(a: str, b: str) -> float:
        """Median per-step speed of a relative to b (b's time / a's time)."""
        return round(statistics.median(y / x for x, y in zip(times[a], times[b], strict=True)), 3)

    return {
        "context_tokens": int(ids.shape[1]),
        "steps": steps,
        "native_kernel": native_attention.KERNEL.status() or "in use",
        **{f"{n}_ms": round(statistics.median(t) * 1000, 2) for n, t in times.items()},
        "split_vs_stock_speed": speed("split_softmax", "stock"),
        "split_vs_stock_speed_torch_kernel": speed(
            "split_softmax_torch_kernel", "stock_torch_kernel"
        ),
        "native_vs_torch_kernel_stock": speed("stock", "stock_torch_kernel"),
        "native_vs_torch_kernel_split": speed("split_softmax", "split_softmax_torch_kernel"),
    }


def native_int4_steps(engine: Any, steps: int, context: int = 300) -> dict[str, Any]:
    """Decode step time at 1 and 8 rows, the native int4 kernel on and off, paired per step."""
    import torch

    from assistant.llm import native_int4
    from assistant.llm import split_softmax as ss
    from assistant.llm.kv_cache import new_cache

    model, step = engine.model, engine.decode_step
    on = native_int4.KERNEL.status() is None
    out: dict[str, Any] = {"native_kernel": native_int4.KERNEL.status() or "in use"}

    @torch.inference_mode()
    def measure(rows: int) -> dict[str, float]:
        ids = torch.randint(100, 1000, (rows, context))
        token = ids[:, -1:]
        spec = ss.SplitSpec.from_spans(SPLIT.k, [(2, 60)] * rows)
        caches = {kind: new_cache(model.config) for kind in ("native", "torch")}
        times: dict[str, list[float]] = {kind: [] for kind in caches}
        with ss.split_context(spec):
            for cache in caches.values():
                model(input_ids=ids, cache=cache, logits_to_keep=1)
            try:
                for _ in range(steps):
                    for kind, cache in caches.items():
                        native_int4.KERNEL.configure(kind == "native" and on)
                        began = time.perf_counter()
                        step(token, cache)
                        times[kind].append(time.perf_counter() - began)
                        cache.crop(-1)
            finally:
                native_int4.KERNEL.configure(on)
        ratio = statistics.median(t / n for n, t in zip(times["native"], times["torch"], strict=True))
        return {
            **{f"{kind}_ms": round(statistics.median(t) * 1000, 2) for kind, t in times.items()},
            "native_vs_torch_speed": round(ratio, 3),
        }

    if step is None or engine.loaded.decode_weights == "dense":
        return {**out, "skipped": "no packed decode weights or no lean decode step"}
    for rows in (1, 8):
        out[f"rows_{rows}"] = engine.gate.run(lambda rows=rows: measure(rows))
    return out


def dtype_speed(engines: dict[str, Any], tokens: int, rounds: int) -> dict[str, Any]:
    """float32 vs bfloat16 (stock attention): decode, a long prefill, a batch-8 decode."""
    msgs = convo(STORY)
    long_prompt = convo("Please read this carefully. " + ARTICLE * 4)
    batch = [convo(f"Summarise (copy {i}):\n{ARTICLE}") for i in range(8)]
    out: dict[str, dict[str, list[float]]] = {
        d: {"decode": [], "prefill": [], "batch": []} for d in engines
    }
    for _ in range(rounds):
        for name, eng in engines.items():
            r = eng.chat(msgs, max_new_tokens=tokens, temperature=0.0, control=STOCK)
            out[name]["decode"].append(r.extra["decode_tokens_per_s"])
            r = eng.chat(long_prompt, max_new_tokens=1, temperature=0.0, control=STOCK)
            out[name]["prefill"].append(r.time_to_first_token_s)
            began = time.perf_counter()
            rs = eng.chat_batch(batch, max_new_tokens=16, temperature=0.0, control=STOCK)
            steps = max(r.completion_tokens for r in rs) - 1
            out[name]["batch"].append(
                (time.perf_counter() - began - rs[0].time_to_first_token_s) / steps
            )
    return {
        name: {
            "decode_tok_s": round(statistics.median(v["decode"]), 2),
            "prefill_600_tokens_s": round(statistics.median(v["prefill"]), 3),
            "batch8_decode_step_s": round(statistics.median(v["batch"]), 3),
        }
        for name, v in out.items()
    }


def auto_dtype_vs_other(engine: Any, tokens: int, rounds: int) -> dict[str, Any]:
    """The dtype `auto` picked against the other one, each with its own packed weights."""
    from assistant.llm.engine import load_engine

    auto = str(engine.loaded.dtype).removeprefix("torch.")
    other = "float32" if auto == "bfloat16" else "bfloat16"
    second = load_engine(Settings(model=ModelSettings(dtype=other)))
    engines = {auto: engine, other: second}
    weights = {name: e.loaded.decode_weights for name, e in engines.items()}
    return {"auto_picked": auto, "decode_weights": weights, **dtype_speed(engines, tokens, rounds)}


def scripted_turns(n: int) -> list[tuple[str, str]]:
    return [
        (
            f"Question {i}: what should I do next about item {i} of my project plan?",
            f"For item {i}, write down the next concrete step and a date, then start on it.",
        )
        for i in range(1, n + 1)
    ]


def ttft_turns(engine: Any, marks: tuple[int, ...]) -> dict[str, Any]:
    """Time to first token per turn; the reused run walks every turn like a real chat."""
    turns = scripted_turns(max(marks))

    def messages(t: int) -> list[Message]:
        msgs: list[Message] = [{"role": "system", "content": SYSTEM}]
        for user, reply in turns[: t - 1]:
            msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        msgs.append({"role": "user", "content": turns[t - 1][0]})
        return msgs

    out: dict[str, Any] = {}
    engine.prefix_cache.clear()
    reuse: dict[int, float] = {}
    for t in range(1, max(marks) + 1):
        r = engine.chat(messages(t), max_new_tokens=1, temperature=0.0, conversation_id="bench")
        reuse[t] = r.time_to_first_token_s
    for t in marks:
        fresh = min(
            engine.chat(messages(t), max_new_tokens=1, temperature=0.0).time_to_first_token_s
            for _ in range(2)
        )
        prompt = engine.chat(messages(t), max_new_tokens=1, temperature=0.0).prompt_tokens
        out[f"turn_{t}"] = {
            "prompt_tokens": prompt,
            "reprefill_s": round(fresh, 4),
            "reuse_s": round(reuse[t], 4),
            "reuse_vs_reprefill": round(reuse[t] / fresh, 3),
        }
    return out


START_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from assistant.config import Settings
from assistant.llm.engine import load_engine
t1 = time.perf_counter()
engine = load_engine(Settings(), cache_dir=Path(sys.argv[1]))
t2 = time.perf_counter()
engine.chat([{"role": "user", "content": "Hi"}], max_new_tokens=1, temperature=0.0)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_token_s": t3 - t2,
                  "from_cache": engine.loaded.from_cache}))
"""


def start_times() -> dict[str, Any]:
    """Fresh processes: one converting the GGUF, one reading the converted cache."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("cold_no_cache", "warm_cached"):
            began = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", START_SCRIPT, tmp],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            wall = time.perf_counter() - began
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
            data = json.loads(line)
            out[name] = {
                "process_s": round(wall, 2),
                "imports_s": round(data["import_s"], 2),
                "model_ready_s": round(data["load_s"], 2),
                "from_cache": data["from_cache"],
            }
    out["chat_first_reply"] = chat_first_reply()
    return out


FIRST_MESSAGE = "Hi! What can you help me with?"


def chat_first_reply() -> dict[str, Any]:
    """What a new user waits for: `assistant chat` in a fresh data directory (the GGUF
    converted and packed, memory and checkpoints created), one message, its whole reply,
    then /quit; wall time of the process, twice (first start, then a warm start).

    Beside each wall time (`first_start_s`, the figure README quotes): when the reply's first
    piece appeared (`..._first_piece_s`), when the reply ended (`..._reply_end_s`, the next
    prompt), the reply's length in words (it is sampled: 15-160 tokens, so one run moves by
    seconds) and the seconds from /quit to the process's end (`..._exit_s`)."""
    out: dict[str, Any] = {"message": FIRST_MESSAGE}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT__")}
        env["ASSISTANT_HOME"] = str(Path(tmp) / "home")
        for name in ("first_start", "warm_start"):
            timed = _timed_chat([sys.executable, "-m", "assistant", "chat"], env, tmp)
            out[f"{name}_s"] = timed["wall_s"]
            for key in ("first_piece_s", "reply_end_s", "exit_s", "reply_words"):
                out[f"{name}_{key}"] = timed[key]
            out[f"{name}_reply"] = timed["reply"]
    return out


def _timed_chat(cmd: list[str], env: dict[str, str], cwd: str) -> dict[str, Any]:
    """Run `cmd` with the first message and /quit on stdin; time what its stdout shows."""
    prompt, reply_mark = b"you> ", b"> "
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
        env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(f"{FIRST_MESSAGE}\n/quit\n".encode())
    proc.stdin.close()
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    seen = b""
    first_piece = reply_end = None
    while chunk := os.read(proc.stdout.fileno(), 4096):
        now = time.perf_counter() - began
        seen += chunk
        # the reply follows "ada> " on the line after the echoed message
        after = seen.split(FIRST_MESSAGE.encode() + b"\n", 1)
        if first_piece is None and len(after) == 2:
            head, _, rest = after[1].partition(reply_mark)
            if _ and rest.strip():
                first_piece = now
        if reply_end is None and len(after) == 2 and prompt in after[1]:
            reply_end = now
    proc.wait(timeout=600)
    wall = time.perf_counter() - began
    reader.join(timeout=60)
    text = seen.decode(errors="replace")
    replies = [ln for ln in text.splitlines() if "> " in ln and not ln.startswith("you>")]
    reply = replies[-1].partition("> ")[2] if replies else ""
    return {
        "wall_s": round(wall, 2),
        "first_piece_s": None if first_piece is None else round(first_piece, 2),
        "reply_end_s": None if reply_end is None else round(reply_end, 2),
        "exit_s": None if reply_end is None else round(wall - reply_end, 2),
        "reply_words": len(reply.split()),
        "reply": reply[:160] if reply else b"".join(errors).decode(errors="replace")[-300:],
    }


def summaries(engine: Any, n: int, tokens: int, rounds: int = 3) -> dict[str, Any]:
    """n summaries one by one vs one batch of n; medians of interleaved rounds."""
    convs = [convo(f"Summarise in two sentences (version {i}):\n{ARTICLE}") for i in range(n)]

    def one_by_one() -> float:
        began = time.perf_counter()
        for c in convs:
            engine.chat(c, max_new_tokens=tokens, temperature=0.0, priority="background")
        return time.perf_counter() - began

    def batch() -> float:
        began = time.perf_counter()
        engine.chat_batch(convs, max_new_tokens=tokens, temperature=0.0)
        return time.perf_counter() - began

    med = interleaved({"sequential": one_by_one, "batch": batch}, rounds)
    return {
        "items": n,
        "max_new_tokens": tokens,
        "rounds": rounds,
        "sequential_per_min": round(n / med["sequential"] * 60, 2),
        "batch_per_min": round(n / med["batch"] * 60, 2),
        "batch_vs_sequential": round(med["sequential"] / med["batch"], 2),
    }


def interactive_during_background(engine: Any, tokens: int, rounds: int = 7) -> dict[str, Any]:
    """Time to first token of a short chat, idle and while a background batch decodes.

    Idle and busy runs alternate (idle, busy, idle, busy, ...) so both see the same machine
    load, and both sides report the same statistic, the median of `rounds` runs (this once
    set the best idle run against the median busy one, which flattered idle). Time to first
    token counts from the request's creation, after tokenising, so it includes waiting for
    the model; `during_queue_s` is that wait alone.
    """
    msgs = convo("What is the capital of France?")
    convs = [convo(f"Summarise (copy {i}):\n{ARTICLE}") for i in range(8)]
    engine.chat(msgs, max_new_tokens=1, temperature=0.0)  # warm-up
    idle: list[float] = []
    busy: list[float] = []
    queued: list[float] = []
    overlapped = 0
    for _ in range(rounds):
        idle.append(engine.chat(msgs, max_new_tokens=1, temperature=0.0).time_to_first_token_s)
        worker = threading.Thread(
            target=engine.chat_batch,
            args=(convs,),
            kwargs={"max_new_tokens": tokens, "temperature": 0.0},
        )
        worker.start()
        time.sleep(1.0)  # the batch is past its prefill and decoding
        r = engine.chat(msgs, max_new_tokens=1, temperature=0.0)
        overlapped += worker.is_alive()  # the chat was served before the batch finished
        busy.append(r.time_to_first_token_s)
        queued.append(r.extra["queue_s"])
        worker.join()
    idle_s, during = statistics.median(idle), statistics.median(busy)
    return {
        "rounds": rounds,
        "idle_s": round(idle_s, 4),
        "during_batch_s": round(during, 4),
        "during_queue_s": round(statistics.median(queued), 4),
        "during_vs_idle": round(during / idle_s, 3),
        "rounds_inside_batch": overlapped,
    }


LLAMA_CPP_CHILD = """
import json, sys, time
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_threads=int(sys.argv[2]), n_ctx=2048, verbose=False)
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    first, pieces = 0.0, 0
    stream = llm.create_chat_completion(
        messages=request["messages"], max_tokens=request["tokens"], temperature=0.0, stream=True
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            pieces += 1
            first = first or time.perf_counter()
    rate = (pieces - 1) / (time.perf_counter() - first) if pieces > 1 else 0.0
    print(json.dumps({"tok_s": rate, "pieces": pieces}), flush=True)
"""


def llama_cpp_speed(engine: Any, tokens: int, rounds: int) -> dict[str, Any]:
    """Decode tokens/s of llama.cpp on the same GGUF vs this engine, interleaved.

    Both stream the same greedy chat; decode speed is counted from the first streamed
    piece to the last, so prompt processing is left out on both sides. llama.cpp runs in
    a child process: its OpenMP pool in this process would throttle the engine's.
    """
    import importlib.util

    import torch

    from assistant.bundled import default_chat_gguf

    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "llama_cpp is not installed (make bench-llama-cpp installs it)"}
    threads = engine.gate.run(torch.get_num_threads)
    child = subprocess.Popen(
        [sys.executable, "-c", LLAMA_CPP_CHILD, str(default_chat_gguf()), str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        return {"skipped": "llama.cpp could not load the GGUF (see stderr)"}

    def llama_cpp() -> float:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps({"messages": convo(STORY), "tokens": tokens}) + "\n")
        child.stdin.flush()
        return float(json.loads(child.stdout.readline())["tok_s"])

    controls = {"engine_stock": STOCK, "engine_split_softmax": SPLIT}
    runners: dict[str, Callable[[], float]] = {"llama_cpp": llama_cpp}
    runners |= {n: functools.partial(decode_rate, engine, tokens, c) for n, c in controls.items()}
    try:
        med = interleaved(runners, rounds)
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    return {
        "threads": threads,
        "new_tokens": tokens,
        **{f"{n}_tok_s": round(v, 2) for n, v in med.items()},
        **{f"{n}_vs_llama_cpp": round(med[n] / med["llama_cpp"], 3) for n in controls},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer tokens and rounds")
    parser.add_argument("--vs-llama-cpp", action="store_true", help="also time llama-cpp-python")
    parser.add_argument(
        "--llama-cpp-only", action="store_true", help="only the llama.cpp comparison"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument(
        "--skip-start", action="store_true", help="skip the fresh-process start timings"
    )
    parser.add_argument("--decode-only", action="store_true", help="only the decode sections")
    parser.add_argument("--start-only", action="store_true", help="only the start section")
    parser.add_argument(
        "--isa", choices=("native", "avx2"), default="native", help="avx2: act as an AVX2-only CPU"
    )
    parser.add_argument(
        "--with-dtype", action="store_true", help="the dtype section, also with --decode-only"
    )
    parser.add_argument("--busy", action="store_true", help="OpenMP policies, quiet vs one core busy")
    parser.add_argument("--policies", default="", help="--busy: comma-separated subset of policies")
    parser.add_argument("--rounds", type=int, default=0, help="interleaved rounds per section (default 3, quick 1; --busy: quiet+busy rounds)")
    args = parser.parse_args()
    if args.busy:
        from busy_cores import POLICIES, run_busy

        names = [p for p in args.policies.split(",") if p] or list(POLICIES)
        unknown = sorted(set(names) - set(POLICIES))
        if unknown:
            parser.error(f"unknown policies {unknown}; choose from {sorted(POLICIES)}")
        rounds, tokens = (1, 24) if args.quick else (3, 48)
        report = run_busy(names, args.rounds or rounds, tokens)
        report["machine"] = {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()}
        print(json.dumps(report, indent=1))
        return

    if args.isa == "avx2":  # before torch loads: it reads ATEN_CPU_CAPABILITY once
        os.environ["ASSISTANT_CPU_ISA"] = "avx2"
        os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
    import torch

    from assistant.llm import cpu_isa, native_kernels
    from assistant.llm.engine import load_engine

    if args.threads:
        torch.set_num_threads(args.threads)
    tokens, rounds = (24, 1) if args.quick else (64, 3)
    rounds = args.rounds or rounds
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "quick": args.quick,
    }
    if not args.skip_start:
        report["start"] = start_times()
    if args.start_only:
        report["machine"] |= {"cpu": cpu_isa.describe(), "load_avg_at_end": os.getloadavg()}
        print(json.dumps(report, indent=1))
        return
    engine = load_engine(Settings())  # dtype "auto", as users get it
    report["machine"] |= {
        "cpu": cpu_isa.describe(),
        "native_kernels": native_kernels.in_use(),
        "dtype": str(engine.loaded.dtype).removeprefix("torch."),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if args.llama_cpp_only:
        report["llama_cpp"] = llama_cpp_speed(engine, 128 if not args.quick else 64, rounds)
        print(json.dumps(report, indent=1))
        return
    report["decode"] = decode_speed(engine, tokens, rounds)
    steps = 20 if args.quick else 60
    report["decode_step_pairs"] = decode_step_pairs(engine, steps)
    report["decode_step_pairs_1000"] = decode_step_pairs(engine, steps, context=1000)
    report["native_int4"] = native_int4_steps(engine, steps)
    if engine.loaded.decode_weights != "dense":
        dense = load_engine(Settings(model=ModelSettings(packed_decode="off")))
        report["decode_weights"] = packed_vs_dense(
            {"packed": engine, "dense": dense}, tokens, rounds
        )
        del dense
    if args.vs_llama_cpp:
        report["llama_cpp"] = llama_cpp_speed(engine, 128, rounds)
    if args.with_dtype:
        report["dtype"] = auto_dtype_vs_other(engine, tokens, 2)
    if args.decode_only:
        print(json.dumps(report, indent=1))
        return
    if not args.quick and not args.with_dtype:
        report["dtype"] = auto_dtype_vs_other(engine, tokens, 2)
    report["ttft_turns"] = ttft_turns(engine, (1, 10, 20) if not args.quick else (1, 10))
    report["summaries"] = summaries(engine, 8, 32 if not args.quick else 16, rounds)
    report["interactive"] = interactive_during_background(engine, 48 if not args.quick else 24)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

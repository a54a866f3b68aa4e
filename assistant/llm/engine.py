"""The local chat engine: one loaded model behind a priority gate, with drift controls.

`load_engine(settings)` loads the model (see loader.py) and returns an `Engine`, which
implements `ChatModel`: `chat`, `stream` and `chat_batch`. Generation is a small decode
loop over a DynamicCache (one forward per token, no per-token Python beyond picking
the token), so the split-softmax spec, classifier-free guidance and the prefix cache
all plug in at one place. Every request runs on the gate's one model thread (gate.py
says why); the caller's thread waits for it and passes streamed pieces on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar

import torch

from assistant import runtime_env
from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.llm import split_softmax
from assistant.llm.base import ChatResult, DriftControl, LogitsHook, Message, Priority
from assistant.llm.chat_format import Prompt, build_prompt, with_repeated_system, without_system
from assistant.llm.decode_step import decode_step_for
from assistant.llm.gate import ModelGate, shared_gate
from assistant.llm.kv_cache import new_cache
from assistant.llm.loader import LoadedModel, load_model
from assistant.llm.prefix_cache import PrefixCache, PrefixEntry, common_prefix, crop_cache
from assistant.llm.sampling import TextTail, pick_tokens
from assistant.safetext import clean, has_surrogates


@dataclass
class _Row:
    """Decode state of one reply."""

    tail: TextTail
    tokens: list[int] = field(default_factory=list)
    finish: str = ""  # "" while running, then stop / length / cancelled


@dataclass
class _Job:
    """Everything one generation needs, fixed before the model is touched."""

    prompts: list[Prompt]  # one per reply; cfg adds unconditional prompts in `uncond`
    control: DriftControl
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: Sequence[str]
    priority: Priority
    uncond: list[Prompt] | None = None  # cfg only
    conversation_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float = 0.0
    reused_tokens: int = 0  # prompt tokens taken from the prefix cache
    shared_tokens: int = 0  # prompt tokens pre-filled once for the whole batch
    queue_s: float = 0.0
    cancelled: bool = False  # set by the caller's thread: the model thread stops at the next step
    # Called before each token is picked with every row's tokens so far and the logits (B, V);
    # returns the logits to sample from (a grammar masks what may not come next).
    logits_hook: LogitsHook | None = None


T = TypeVar("T")
# Tokens per background prefill forward (all rows together). Chats still cut in between
# layers; wider forwards use the matmul better (measured 512 vs 128: batch of 8 summaries
# 8% faster, one by one 6%; 1024 vs 512: a batch's pre-fill 6% faster, 0.75 vs 0.80 s).
PREFILL_CHUNK = 1024
_IN_BACKGROUND: ContextVar[bool] = ContextVar("in_background_forward", default=False)
MIN_SHARED_PREFIX = 16  # shorter common prefixes are not worth a separate pre-fill


class Engine:
    """A loaded chat model. Thread-safe: callers queue at one priority gate, one thread runs all."""

    def __init__(
        self, loaded: LoadedModel, settings: Settings, gate: ModelGate | None = None
    ) -> None:
        """`gate`: where the model work queues; default the process's one torch thread."""
        self.loaded = loaded
        self.settings = settings
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.gate = gate or shared_gate()
        self.prefix_cache = PrefixCache(settings.model.prefix_cache_conversations)
        self.model.set_attn_implementation(split_softmax.IMPLEMENTATION)
        self.decode_step = decode_step_for(self.model)  # None: steps use the model's forward
        self._eos = self._eos_ids()
        self._install_yield_hooks()
        self._pad = int(self.tokenizer.pad_token_id)
        self.last_stream_result: ChatResult | None = None  # result of the latest finished stream
        self.last_reused_tokens = 0  # prefix tokens reused by the latest next_token_logits

    # ------------------------------------------------------------------ public API

    @property
    def default_control(self) -> DriftControl:
        """The control used when a request names none (from [split_softmax])."""
        ss = self.settings.split_softmax
        if not ss.enabled:
            return DriftControl(kind="none")
        return DriftControl(kind="split_softmax", k=ss.k, layers=tuple(ss.layers), span=ss.span)

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes (no special tokens added)."""
        if has_surrogates(text):
            text = clean(text)  # the tokenizer raises a TypeError on lone surrogates
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
        logits_hook: LogitsHook | None = None,
    ) -> ChatResult:
        """Generate one reply (None arguments fall back to config defaults).

        `logits_hook` constrains decoding (see `assistant.llm.constrain`)."""
        job = self._job(
            [messages],
            max_new_tokens,
            temperature,
            top_p,
            seed,
            stop,
            control,
            priority,
            conversation_id,
        )
        job.logits_hook = logits_hook
        gen = self._run(job, stream_row=None)
        while True:
            try:
                next(gen)
            except StopIteration as done:
                return done.value[0]  # type: ignore[no-any-return]

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        control: DriftControl | None = None,
        priority: Priority = "interactive",
        conversation_id: str | None = None,
    ) -> Iterator[str]:
        """Yield the reply in text pieces; joined they equal `chat(...).text`."""
        job = self._job(
            [messages],
            max_new_tokens,
            temperature,
            top_p,
            seed,
            stop,
            control,
            priority,
            conversation_id,
        )
        results = yield from self._run(job, stream_row=0)
        self.last_stream_result = results[0]

    def chat_batch(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        control: DriftControl | None = None,
        priority: Priority = "background",
    ) -> list[ChatResult]:
        """Generate replies for several conversations in one left-padded batch."""
        if not conversations:
            return []
        job = self._job(
            conversations, max_new_tokens, temperature, None, seed, (), control, priority, None
        )
        gen = self._run(job, stream_row=None)
        while True:
            try:
                next(gen)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def next_token_logits(
        self,
        messages: Sequence[Message],
        *,
        control: DriftControl | None = None,
        conversation_id: str | None = None,
    ) -> torch.Tensor:
        """Float32 logits (V,) for the reply's first token; uses the prefix cache like `chat`."""
        job = self._job([messages], 1, 0.0, None, None, (), control, "interactive", conversation_id)

        def prefill() -> torch.Tensor:
            cache, _, _, logits, _, fed = self._prefill(job)
            if job.uncond:
                logits = logits[1:] + job.control.guidance * (logits[:1] - logits[1:])
            if job.conversation_id is not None:
                entry = PrefixEntry(self._control_key(job.control), fed, cache)
                self.prefix_cache.put(job.conversation_id, entry)
            return logits[0].clone()

        logits = self._submit(prefill, job.priority).result()
        self.last_reused_tokens = job.reused_tokens
        return logits

    def close(self) -> None:
        """Drop cached keys/values (the shared torch thread stays for other users)."""
        self.prefix_cache.clear()

    # ------------------------------------------------------------------ request setup

    def _install_yield_hooks(self) -> None:
        """Background forwards let waiting chats run before each decoder layer and the head."""
        layers = getattr(getattr(self.model, "model", None), "layers", None)
        if not isinstance(layers, torch.nn.ModuleList):
            return  # unknown layout: background work still yields between steps

        def pause_if_someone_waits(module: torch.nn.Module, args: Any) -> None:
            if _IN_BACKGROUND.get():
                self._pause_for_interactive()

        # The head of a batch costs about three layers (49k-token vocabulary).
        head = self.model.get_output_embeddings()
        for module in [*layers, *([head] if isinstance(head, torch.nn.Module) else [])]:
            module.register_forward_pre_hook(pause_if_someone_waits)

    def _job(
        self,
        conversations: Sequence[Sequence[Message]],
        max_new_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
        stop: Sequence[str],
        control: DriftControl | None,
        priority: Priority,
        conversation_id: str | None,
    ) -> _Job:
        ms = self.settings.model
        ctl = control or self.default_control
        max_new = max_new_tokens if max_new_tokens is not None else ms.max_new_tokens
        budget = ms.context_tokens - max_new
        if budget < 16:
            raise GenerationError(
                f"max_new_tokens={max_new} leaves no room for the prompt in model.context_tokens="
                f"{ms.context_tokens}; ask for fewer tokens or raise model.context_tokens"
            )
        convs = [
            with_repeated_system(c) if ctl.kind == "repeat_system" or ctl.repeat_system else list(c)
            for c in conversations
        ]
        prompts = [build_prompt(self.tokenizer, c, budget) for c in convs]
        uncond = None
        if ctl.kind == "cfg":
            uncond = [build_prompt(self.tokenizer, without_system(c) or c, budget) for c in convs]
        return _Job(
            prompts=prompts,
            control=ctl,
            max_new_tokens=max_new,
            temperature=ms.temperature if temperature is None else temperature,
            top_p=ms.top_p if top_p is None else top_p,
            seed=seed,
            stop=stop,
            priority=priority,
            uncond=uncond,
            conversation_id=conversation_id if len(prompts) == 1 and ctl.kind != "cfg" else None,
        )

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (
            getattr(self.model.generation_config, "eos_token_id", None),
            self.tokenizer.eos_token_id,
        ):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        return ids

    @staticmethod
    def _control_key(ctl: DriftControl) -> tuple[Any, ...]:
        if ctl.reweights_span:
            return (ctl.kind, ctl.k, ctl.boost, ctl.layers, ctl.span, ctl.repeat_system)
        return (ctl.kind,)

    # ------------------------------------------------------------------ generation

    def _submit(self, fn: Callable[[], T], priority: Priority) -> Future[T]:
        """Queue `fn` for the model thread, which runs it with the caller's torch thread count.

        Where the program picks threads itself (runtime_env: the user set none), the model
        thread takes as many as other processes leave cores free, checked per request.
        """
        threads = torch.get_num_threads()  # torch keeps this per thread; the caller's setting wins

        def with_callers_threads() -> T:
            wanted = runtime_env.request_threads() or threads
            if torch.get_num_threads() != wanted:
                torch.set_num_threads(wanted)
            return fn()

        return self.gate.submit(with_callers_threads, priority)

    def _run(self, job: _Job, stream_row: int | None) -> Generator[str, None, list[ChatResult]]:
        """Queue the request for the model thread; yield text pieces of `stream_row` as they come.

        The model thread runs ahead of a slow reader; closing the stream cancels the request.
        """
        pieces: SimpleQueue[str | None] = SimpleQueue()  # None: the request is over
        rows = [_Row(TextTail(self.tokenizer, job.stop)) for _ in job.prompts]
        submitted = time.perf_counter()

        def generate() -> list[ChatResult]:
            job.queue_s = time.perf_counter() - submitted
            for piece in self._decode(job, rows, stream_row):
                pieces.put(piece)
            return [self._result(job, p, r) for p, r in zip(job.prompts, rows, strict=True)]

        future = self._submit(generate, job.priority)
        future.add_done_callback(lambda _: pieces.put(None))
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        except BaseException:  # GeneratorExit when the stream is closed, KeyboardInterrupt
            job.cancelled = True
            future.cancel()  # not started yet: it never will; running: it stops at the next step
            raise
        return future.result()

    def _result(self, job: _Job, prompt: Prompt, row: _Row) -> ChatResult:
        now = time.perf_counter()
        text = row.tail.text
        ttft = (job.first_token_at or now) - job.started
        decode_s = now - (job.first_token_at or now)
        extra = {
            "queue_s": job.queue_s,
            "reused_tokens": float(job.reused_tokens),
            "shared_prefix_tokens": float(job.shared_tokens),
            "decode_tokens_per_s": (len(row.tokens) - 1) / decode_s
            if decode_s > 0 and len(row.tokens) > 1
            else 0.0,
        }
        if prompt.truncated_tokens:
            extra["truncated_tokens"] = float(prompt.truncated_tokens)
        return ChatResult(
            text=text,
            prompt_tokens=len(prompt.ids),
            completion_tokens=len(row.tokens),
            time_to_first_token_s=ttft,
            total_s=now - job.started,
            finish_reason=row.finish or "length",  # type: ignore[arg-type]
            dropped_turns=prompt.dropped_turns,
            extra=extra,
        )

    def _split_spec(
        self, job: _Job, pads: list[int], shared: int = 0
    ) -> split_softmax.SplitSpec | None:
        """Spans as key indices: tokens after the shared prefix move right by the row's padding."""
        ctl = job.control
        if ctl.kind == "instaboost":
            k, boost = 1.0, ctl.boost
        elif ctl.kind == "split_softmax":
            k, boost = ctl.k, 1.0
        else:
            return None
        if k >= 1.0 and boost == 1.0:
            return None  # stock attention: bit-identical to `none`
        spans = []
        for prompt, pad in zip(job.prompts, pads, strict=False):
            s, e = prompt.span(ctl.span)
            spans.append((s if s < shared else s + pad, e if e <= shared else e + pad))
        if all(e <= s for s, e in spans):
            return None
        return split_softmax.SplitSpec.from_spans(k, spans, ctl.layers, boost)

    def _forward(
        self, job: _Job, spec: split_softmax.SplitSpec | None, **inputs: Any
    ) -> torch.Tensor:
        # Grad mode and the split spec are set per forward, never across a `yield` to the caller.
        background = job.priority == "background"
        step, ids, cache = self.decode_step, inputs["input_ids"], inputs["cache"]
        if step is not None and ids.shape[1] == 1 and cache.get_seq_length() and step.usable():
            with torch.inference_mode(), split_softmax.split_context(spec):
                return step(
                    ids, cache, inputs.get("attention_mask"), inputs.get("position_ids"),
                    between_layers=self._pause_for_interactive if background else None,
                )  # fmt: skip
        token = _IN_BACKGROUND.set(background)
        try:
            with torch.inference_mode(), split_softmax.split_context(spec):
                out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        finally:
            _IN_BACKGROUND.reset(token)
        return out.logits[:, -1, :].float()  # (B, V)

    def _pause_for_interactive(self) -> None:
        self.gate.yield_to_interactive("background")

    def _prefill(
        self, job: _Job
    ) -> tuple[
        Any,
        torch.Tensor | None,
        torch.Tensor | None,
        torch.Tensor,
        split_softmax.SplitSpec | None,
        list[int],
    ]:
        """Run the prompt(s); returns cache, 2D mask, last positions, logits, spec, fed ids."""
        seqs = [p.ids for p in job.prompts] + [p.ids for p in job.uncond or []]
        if len(seqs) == 1:
            ids = seqs[0]
            cache, reused = self._cached_prefix(job, ids)
            spec = self._split_spec(job, [0])
            new = torch.tensor([ids[reused:]], device=self.device)  # (1, T_new)
            logits = self._feed(job, spec, new, None, None, cache)
            job.reused_tokens = reused
            return cache, None, None, logits, spec, list(ids)
        # Rows are laid out as [shared prefix][left padding][own tokens]: the prefix that
        # all rows share (typically the system prompt) is pre-filled once, then copied.
        shared = job.shared_tokens = self._shared_prefix(job, seqs)
        cache = new_cache(self.model.config)
        if shared:
            head = torch.tensor([seqs[0][:shared]], device=self.device)  # (1, shared)
            self._feed(job, self._split_spec(job, [0]), head, None, None, cache)
            layers: Any = cache.layers
            for layer in layers:
                layer.batch_repeat_interleave(len(seqs))  # (B, Hkv, shared, D)
        rest = [s[shared:] for s in seqs]
        width = max(len(s) for s in rest)
        pads = [width - len(s) for s in rest]
        input_ids = torch.tensor(
            [[self._pad] * p + s for p, s in zip(pads, rest, strict=True)], device=self.device
        )  # (B, width)
        mask = torch.tensor(
            [[1] * shared + [0] * p + [1] * len(s) for p, s in zip(pads, rest, strict=True)],
            device=self.device,
        )  # (B, shared + width)
        # Real positions skip the padding: each row counts 0, 1, ... over its own tokens.
        positions = (mask.cumsum(-1) - 1).clamp_min(0)[:, shared:]  # (B, width)
        spec = self._split_spec(job, pads, shared)
        logits = self._feed(job, spec, input_ids, mask, positions, cache)
        return cache, mask, positions[:, -1], logits, spec, []

    def _shared_prefix(self, job: _Job, seqs: list[list[int]]) -> int:
        """Length of the token prefix every row shares, when worth pre-filling once."""
        if len(seqs) < 2 or job.uncond:
            return 0
        shared = min(len(s) for s in seqs) - 1  # every row keeps at least one own token
        first = seqs[0]
        for s in seqs[1:]:
            shared = min(shared, common_prefix(first, s))
        if shared < MIN_SHARED_PREFIX:
            return 0
        if job.control.reweights_span:
            spans = {p.span(job.control.span) for p in job.prompts}
            if len(spans) != 1 or next(iter(spans))[1] > shared:
                return 0  # the system span must lie inside the shared part
        return shared

    def _feed(
        self,
        job: _Job,
        spec: split_softmax.SplitSpec | None,
        input_ids: torch.Tensor,
        mask: torch.Tensor | None,
        positions: torch.Tensor | None,
        cache: Any,
    ) -> torch.Tensor:
        """Prefill; background work goes in chunks so an interactive request can cut in."""
        width = input_ids.shape[1]
        chunk = width if job.priority == "interactive" else max(1, PREFILL_CHUNK // len(input_ids))
        past = cache.get_seq_length()
        logits = torch.empty(0)
        for a in range(0, width, chunk):
            b = min(a + chunk, width)
            if a:
                self.gate.yield_to_interactive(job.priority)
            logits = self._forward(
                job,
                spec,
                input_ids=input_ids[:, a:b],  # (B, chunk)
                attention_mask=None if mask is None else mask[:, : past + b],  # (B, past + b)
                position_ids=None if positions is None else positions[:, a:b],
                cache=cache,
            )
        return logits

    def _cached_prefix(self, job: _Job, ids: list[int]) -> tuple[Any, int]:
        """A cache holding the longest reusable prefix of `ids`, and its length."""
        if job.conversation_id is None:
            return new_cache(self.model.config), 0
        entry = self.prefix_cache.take(job.conversation_id, self._control_key(job.control))
        if entry is None:
            return new_cache(self.model.config), 0
        # At least one token must be fed to get logits.
        reused = min(common_prefix(entry.ids, ids), len(ids) - 1)
        crop_cache(entry.cache, reused)
        return entry.cache, reused

    def _decode(
        self, job: _Job, rows: list[_Row], stream_row: int | None
    ) -> Generator[str, None, None]:
        cache, mask, positions, logits, spec, fed = self._prefill(job)
        n = len(rows)
        generator = None
        if job.temperature > 0:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(job.seed if job.seed is not None else int(torch.seed() % 2**63))
        guidance = job.control.guidance if job.uncond else None
        active = list(range(n))  # rows still decoding, in batch order (cfg keeps all rows)
        for step in range(job.max_new_tokens):
            if guidance is not None:
                cond, uncond = logits[:n], logits[n:]
                logits = uncond + guidance * (cond - uncond)
            if job.logits_hook is not None:
                logits = job.logits_hook([rows[i].tokens for i in active], logits)
            tokens = pick_tokens(logits, job.temperature, job.top_p, generator).tolist()
            if step == 0:
                job.first_token_at = time.perf_counter()
            for i, tok in zip(active, tokens, strict=True):
                row = rows[i]
                if row.finish:
                    continue
                row.tokens.append(tok)
                if tok in self._eos:
                    row.finish = "stop"
                    piece = row.tail.flush()
                else:
                    piece = row.tail.push(tok)
                    if row.tail.stopped:
                        row.finish = "stop"
                if piece and i == stream_row:
                    yield piece
            if all(r.finish for r in rows) or step == job.max_new_tokens - 1:
                break
            if job.priority == "background":
                self.gate.yield_to_interactive(job.priority)
            if job.cancelled:
                for row in rows:
                    row.finish = row.finish or "cancelled"
                return  # nobody reads on, and the cache is not stored (the next turn re-fills)
            if mask is not None and guidance is None and any(rows[i].finish for i in active):
                # Finished rows leave the batch: later steps only pay for live rows.
                keep = [j for j, i in enumerate(active) if not rows[i].finish]
                idx = torch.tensor(keep, device=self.device)
                for layer in cache.layers:
                    layer.batch_select_indices(idx)
                mask, positions = mask[idx], None if positions is None else positions[idx]
                spec = spec.select(keep) if spec is not None else None
                active = [active[j] for j in keep]
                tokens = [tokens[j] for j in keep]
            feed = tokens if guidance is None else tokens + tokens
            next_ids = torch.tensor(feed, device=self.device)[:, None]  # (B, 1)
            if mask is None:
                fed.append(feed[0])
                logits = self._forward(job, spec, input_ids=next_ids, cache=cache)
            else:
                assert positions is not None
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)  # (B, T+1)
                positions = positions + 1
                logits = self._forward(
                    job,
                    spec,
                    input_ids=next_ids,
                    attention_mask=mask,
                    position_ids=positions[:, None],
                    cache=cache,
                )
        for i, row in enumerate(rows):
            if not row.finish:
                row.finish = "length"
                piece = row.tail.flush()
                if piece and i == stream_row:
                    yield piece
        if job.conversation_id is not None and fed:
            self.prefix_cache.put(
                job.conversation_id, PrefixEntry(self._control_key(job.control), fed, cache)
            )


def load_engine(settings: Settings, *, cache_dir: Path | None = None) -> Engine:
    """Load the configured model (or the bundled default) and wrap it in an Engine.

    `cache_dir` holds converted models (default: <data dir>/models).
    """
    # Loading runs torch ops (conversion, packing): on the torch thread, so the caller's
    # thread never starts a second OpenMP pool (see gate.shared_gate).
    gate = shared_gate()
    return Engine(gate.run(lambda: load_model(settings.model, cache_dir=cache_dir)), settings, gate)


_SHARED: dict[str, Engine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(settings: Settings) -> Engine:
    """One engine per process (per model setting), loaded on first use."""
    key = settings.model.model_dump_json()
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None:
            engine = _SHARED[key] = load_engine(settings)
        return engine

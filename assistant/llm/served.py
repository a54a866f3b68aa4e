"""The model tier on Ray Serve: today's engine (split-softmax unchanged) in N replicas,
behind the same `ChatModel` interface (``model.serving = "ray_serve"``).

    model = served_model(settings)       # connects to Ray (or starts a local one), deploys
    model.chat(messages, control=DriftControl("split_softmax", k=0.5))

Each replica loads the engine once and serves requests concurrently, so requests that
arrive together are batched by the engine exactly as in one process; the drift control
travels with each request. Ray is imported only here, only when configured.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.llm.base import ChatResult, DriftControl, Message, Priority

APP_NAME = "assistant-engine"
PID_KEY = "served_by_pid"  # ChatResult.extra: which replica answered (diagnostics, tests)


class EngineReplica:
    """One Serve replica: the engine of `settings`, loaded once."""

    def __init__(self, settings_json: str, cache_dir: str) -> None:
        from assistant.llm.engine import load_engine

        settings = Settings.model_validate_json(settings_json)
        self.engine = load_engine(settings, cache_dir=Path(cache_dir) if cache_dir else None)

    def chat(self, messages: list[Message], options: dict[str, Any]) -> ChatResult:
        result = self.engine.chat(messages, **options)
        result.extra[PID_KEY] = float(os.getpid())
        return result

    def chat_batch(self, conversations: list[list[Message]], options: dict[str, Any]) -> list[ChatResult]:
        results = self.engine.chat_batch(conversations, **options)
        for result in results:
            result.extra[PID_KEY] = float(os.getpid())
        return results

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[str]:
        yield from self.engine.stream(messages, **options)


class ServedChatModel:
    """A ChatModel whose calls go to the Ray Serve deployment behind `handle`."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

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
    ) -> ChatResult:
        options = {
            "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
            "seed": seed, "stop": tuple(stop), "control": control, "priority": priority,
            "conversation_id": conversation_id,
        }  # fmt: skip
        result: ChatResult = self._handle.chat.remote(list(messages), options).result()
        return result

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
        options = {
            "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
            "seed": seed, "stop": tuple(stop), "control": control, "priority": priority,
            "conversation_id": conversation_id,
        }  # fmt: skip
        yield from self._handle.options(stream=True).stream.remote(list(messages), options)

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
        options = {
            "max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed,
            "control": control, "priority": priority,
        }  # fmt: skip
        results: list[ChatResult] = self._handle.chat_batch.remote(
            [list(c) for c in conversations], options
        ).result()
        return results


_LOCK = threading.Lock()
_MODELS: dict[str, ServedChatModel] = {}


def served_model(settings: Settings, *, cache_dir: Path | None = None) -> ServedChatModel:
    """The deployment for `settings` (deployed once per process), as a ChatModel."""
    key = settings.model.model_dump_json()
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = ServedChatModel(_deploy(settings, cache_dir))
        return model


def _deploy(settings: Settings, cache_dir: Path | None) -> Any:
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ConfigError(
            "model.serving = 'ray_serve' needs Ray Serve; install it (pip install 'ray[serve]') "
            "or set model.serving = 'in_process'"
        ) from None
    cfg = settings.model
    if not ray.is_initialized():
        # "" starts a local Ray on this machine; a cluster address joins it
        ray.init(
            address=cfg.ray_address or None, include_dashboard=False, log_to_driver=False,
            configure_logging=False,
        )  # fmt: skip
    deployment: Any = serve.deployment(
        EngineReplica,
        name="engine",
        num_replicas=cfg.serve_replicas,
        max_ongoing_requests=16,  # concurrent requests reach the engine, which batches them
        ray_actor_options={"num_cpus": 0.5},  # placement hint; the engine's threads do the work
    )
    return serve.run(
        deployment.bind(settings.model_dump_json(), str(cache_dir or "")),
        name=APP_NAME,
        route_prefix=None,
    )


def shutdown() -> None:
    """Remove the deployment and forget it (tests, the end of a bench)."""
    from ray import serve

    with _LOCK:
        _MODELS.clear()
    serve.shutdown()

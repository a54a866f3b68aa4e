"""The CLI side of the local API: httpx over the service's Unix socket.

`connect()` answers None when no service is up (no socket, no token, or nothing
answering), and the command then opens the data directory itself, as before.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx

from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.llm.base import Message
from assistant.local_api import socket_path, token_path
from memory.types import Fact, Goal, Source

BASE_URL = "http://assistant.local"  # the host is not used: every request goes to the socket


class ServiceError(AssistantError):
    """The running service refused or failed a request."""


class ServiceClient:
    """Requests to the running service."""

    def __init__(self, path: Path, token: str) -> None:
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(path)),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0, read=None),  # a reply or a probe run may take minutes
        )

    def close(self) -> None:
        self._http.close()

    def _json(self, method: str, url: str, **kw: Any) -> Any:
        resp = self._http.request(method, url, **kw)
        if resp.status_code != 200:
            raise ServiceError(f"the running service answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def healthy(self) -> bool:
        try:
            return bool(self._json("GET", "/health", timeout=2.0).get("ok"))
        except (httpx.HTTPError, ServiceError, ValueError):
            return False

    def run_cli(self, argv: Sequence[str], columns: int) -> tuple[str, str, int]:
        """Run `assistant ARGV` inside the service: (stdout, stderr, exit code)."""
        got = self._json("POST", "/cli", json={"argv": list(argv), "columns": columns})
        return str(got["stdout"]), str(got["stderr"]), int(got["exit_code"])

    def history(self, user: str, thread: str) -> list[Message]:
        got = self._json("GET", "/chat/history", params={"user": user, "thread": thread})
        return [Message(role=m["role"], content=m["content"]) for m in got["messages"]]

    def goals(self, user: str) -> list[Goal]:
        got = self._json("GET", "/chat/goals", params={"user": user})
        return [_goal(g) for g in got["goals"]]

    def facts(self, user: str) -> list[Fact]:
        return [_fact(f) for f in self._json("GET", "/chat/facts", params={"user": user})["facts"]]

    def forget(self, user: str, text: str) -> list[Fact]:
        got = self._json("POST", "/chat/forget", json={"user": user, "text": text})
        return [_fact(f) for f in got["facts"]]

    def send(self, user: str, thread: str, text: str, on_token: Callable[[str], None] | None) -> str:
        """One chat turn on the service; pieces go to `on_token` as the service generates them."""
        pieces: list[str] = []
        body = {"user": user, "thread": thread, "text": text}
        try:
            with self._http.stream("POST", "/chat/send", json=body) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise ServiceError(f"the running service answered {resp.status_code}: {resp.text[:200]}")
                for line in resp.iter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    if "token" in event:
                        pieces.append(event["token"])
                        if on_token is not None:
                            on_token(event["token"])
                    elif "error" in event:
                        raise ServiceError(str(event["error"]))
                    elif "reply" in event:
                        return str(event["reply"])
                    elif "cancelled" in event:
                        from assistant.graph.session import ReplyCancelled

                        raise ReplyCancelled(str(event["cancelled"]))
        except KeyboardInterrupt:
            from assistant.graph.session import ReplyCancelled

            # the service stops generating and keeps the turn marked cancelled, as a local chat does
            with contextlib.suppress(httpx.HTTPError, ServiceError, ValueError):  # hanging up cancels too
                self._json("POST", "/chat/cancel", json={"user": user, "thread": thread}, timeout=5.0)
            raise ReplyCancelled("".join(pieces).strip()) from None
        raise ServiceError("the running service ended the reply early; see its log")


def _goal(data: dict[str, Any]) -> Goal:
    known = {f.name for f in fields(Goal)}
    values = {k: v for k, v in data.items() if k in known}
    values["known"] = tuple(values.get("known", ()))
    values["missing"] = tuple(values.get("missing", ()))
    return Goal(**values)


def _fact(data: dict[str, Any]) -> Fact:
    known = {f.name for f in fields(Fact)}
    values = {k: v for k, v in data.items() if k in known}
    values["source"] = Source(**values.get("source", {}))
    return Fact(**values)


class ServiceStarting(AssistantError):
    """The service is still starting after the bounded wait."""


def connect(
    wait_s: float | None = None, notify: Callable[[str], None] | None = None
) -> ServiceClient | None:
    """A client of the running service, or None when none is up in this data directory.

    A service that is starting (it owns the data directory but its socket is not open yet)
    is waited for, up to `wait_s` (default `starting.WAIT_S`); `notify` hears once that we
    wait. Still starting after that: ServiceStarting, never "stop that process".
    """
    from assistant.local_api.starting import WAIT_S, starting_pid

    client = _connect_now()
    pid = starting_pid() if client is None else None
    if pid is None:
        return client
    if notify is not None:
        notify(f"the assistant service (process {pid}) is starting; waiting for it…")
    deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        client = _connect_now()
        if client is not None:
            return client
        if starting_pid() is None:  # it stopped or failed to start: the directory is free again
            return _connect_now()
    raise ServiceStarting(
        f"the assistant service (process {pid}) is still starting (loading the model and "
        "memory); try again in a moment"
    )


def _connect_now() -> ServiceClient | None:
    path, token_file = socket_path(), token_path()
    if not path.exists() or not token_file.is_file():
        return None
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None  # not ours to read: then it is not our service either
    client = ServiceClient(path, token)
    if client.healthy():
        return client
    client.close()
    return None


def forward(argv: Sequence[str]) -> int | None:
    """Run `assistant ARGV` inside the running service and print what it printed; the exit
    code, or None when no service is up (the caller then runs the command itself)."""
    import click

    client = connect(notify=lambda line: click.echo(line, err=True))
    if client is None:
        return None
    # `digest --open` opens a browser: here, on the person's screen, not in the service
    open_html = argv[:1] == ["digest"] and "--open" in argv
    args = [a for a in argv if not (open_html and a == "--open")]
    try:
        out, err, code = client.run_cli(_absolute_paths(args), shutil.get_terminal_size().columns)
    finally:
        client.close()
    if out:
        click.echo(out, nl=False)
    if err:
        click.echo(err, nl=False, err=True)
    if open_html and code == 0:
        for line in out.splitlines():
            if line.startswith("html: "):
                click.launch(line[len("html: ") :])
    return code


def _absolute_paths(argv: Sequence[str]) -> list[str]:
    # the service runs in its own working folder: files named here must be found there too
    return [str(Path(a).resolve()) if not a.startswith("-") and Path(a).is_file() else a for a in argv]


class RemoteProfile:
    """The slice of `store.profile` the terminal's /profile and /forget use, over the API."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def facts(self, user_id: str) -> list[Fact]:
        return self._client.facts(user_id)

    def forget(self, user_id: str, text: str) -> list[Fact]:
        return self._client.forget(user_id, text)


class RemoteStore:
    """What the terminal reads from `session.store`, served by the running service."""

    def __init__(self, client: ServiceClient) -> None:
        self.profile = RemoteProfile(client)


class RemoteSession:
    """A ChatSession whose turns run inside the service (same graph, memory and threads)."""

    def __init__(self, client: ServiceClient, settings: Settings, user_id: str, thread_id: str) -> None:
        self.client = client
        self.settings = settings
        self.user_id = user_id
        self.thread_id = thread_id
        self.store = RemoteStore(client)

    def send(self, text: str, on_token: Callable[[str], None] | None = None) -> str:
        return self.client.send(self.user_id, self.thread_id, text, on_token)

    def history(self) -> list[Message]:
        return self.client.history(self.user_id, self.thread_id)

    def goals(self) -> list[Goal]:
        return self.client.goals(self.user_id)

    def switch(self, thread_id: str) -> None:
        self.thread_id = thread_id

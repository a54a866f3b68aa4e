"""The service side of the local API: a Starlette app served by uvicorn on a Unix socket.

Routes (every one needs ``Authorization: Bearer <token>``):

    GET  /health                          the service is up
    POST /cli          {argv, columns}    run a CLI command inside the service; its output
    GET  /chat/history ?user&thread       the thread's verbatim turns
    POST /chat/send    {user, thread, text}  the reply, streamed as NDJSON lines
    POST /chat/cancel  {user, thread}     stop the reply being generated (Ctrl-C in chat)
    GET  /chat/goals   ?user              the user's goals
    GET  /chat/facts   ?user              the user's profile facts
    POST /chat/forget  {user, text}       forget facts matching text

A CLI command run here uses the service's app (`assistant.app.command_app`), so it sees
the same store and model and prints exactly what it prints when run on its own.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import queue
import secrets
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from assistant.app import App
from assistant.errors import AssistantError
from assistant.local_api import socket_path, token_path
from assistant.local_api.isolation import thread_streams

log = logging.getLogger(__name__)

SESSIONS_KEPT = 16  # cached chat sessions; an evicted one rebuilds from the checkpointer


def write_token() -> str:
    """A fresh random token in a file only this user can read (0600, created that way)."""
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.unlink(missing_ok=True)  # a leftover file keeps its old mode; start from none
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    return token


class _Auth(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._expected = f"Bearer {token}".encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            return JSONResponse({"error": "unauthorised: wrong or missing token"}, status_code=401)
        return await call_next(request)


class _Sessions:
    """Chat sessions by (user, thread) over the app's model, memory and checkpointer."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._replying: dict[tuple[str, str], threading.Event] = {}

    def start_reply(self, user: str, thread: str) -> threading.Event:
        """A fresh cancel flag for the reply now starting on (user, thread)."""
        with self._lock:
            flag = self._replying[(user, thread)] = threading.Event()
            return flag

    def cancel_reply(self, user: str, thread: str) -> bool:
        """Ask the reply on (user, thread) to stop; False when none is running."""
        with self._lock:
            flag = self._replying.pop((user, thread), None)
        if flag is None:
            return False
        flag.set()
        return True

    def get(self, user: str, thread: str) -> Any:
        from assistant.graph.session import ChatSession

        with self._lock:
            key = (user, thread)
            session = self._cache.pop(key, None)
            if session is None:
                a = self.app
                session = ChatSession(a.settings, a.llm, a.memory, a.checkpointer, user, thread)
            self._cache[key] = session
            while len(self._cache) > SESSIONS_KEPT:
                self._cache.popitem(last=False)
            return session


_columns_lock = threading.Lock()
_columns_users = 0
_columns_before: str | None = None


@contextmanager
def _columns(columns: int) -> Iterator[None]:
    """COLUMNS set to the caller's terminal width while commands run (rich reads it when a
    table is made). It is one variable for the process: commands from terminals of
    different widths at the same moment may share one width; only the layout differs."""
    global _columns_users, _columns_before
    with _columns_lock:
        if _columns_users == 0:
            _columns_before = os.environ.get("COLUMNS")
        _columns_users += 1
        os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        with _columns_lock:
            _columns_users -= 1
            if _columns_users == 0:
                if _columns_before is None:
                    os.environ.pop("COLUMNS", None)
                else:
                    os.environ["COLUMNS"] = _columns_before


def run_cli(argv: list[str], columns: int) -> dict[str, Any]:
    """Run `assistant ARGV` in this process (on the service's app); its output and exit code.
    Commands may run at the same time: each thread prints into its own buffers."""
    from assistant.cli import FORWARDED, run_command

    if not argv or argv[0] not in FORWARDED:
        return {"stdout": "", "stderr": f"error: {argv[:1]} is not run by the service\n", "exit_code": 2}
    with _columns(columns), thread_streams() as (out, err):
        try:
            code = run_command(argv)
        except SystemExit as exc:  # a command that exits by itself
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception as exc:  # noqa: BLE001 - one command's failure must not stop the service
            log.error("`assistant %s` failed inside the service", " ".join(argv), exc_info=True)
            err.write(f"error: {type(exc).__name__}: {exc} (details in the service log)\n")
            code = 1
        return {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit_code": code}


def build_api(app: App, token: str) -> Starlette:
    """The local API over `app` (the service's parts)."""
    sessions = _Sessions(app)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "pid": os.getpid()})

    async def cli(request: Request) -> Response:
        body = await request.json()
        argv = [str(a) for a in body.get("argv", [])]
        columns = int(body.get("columns") or 80)

        return JSONResponse(await asyncio.to_thread(run_cli, argv, columns))

    async def history(request: Request) -> Response:
        user, thread = request.query_params["user"], request.query_params["thread"]
        messages = await asyncio.to_thread(lambda: sessions.get(user, thread).history())
        return JSONResponse({"messages": [dict(m) for m in messages]})

    async def goals(request: Request) -> Response:
        user = request.query_params["user"]
        found = await asyncio.to_thread(lambda: sessions.get(user, "main").goals())
        return JSONResponse({"goals": [asdict(g) for g in found]})

    async def facts(request: Request) -> Response:
        user = request.query_params["user"]
        found = await asyncio.to_thread(lambda: app.memory.profile.facts(user))
        return JSONResponse({"facts": [asdict(f) for f in found]})

    async def forget(request: Request) -> Response:
        body = await request.json()
        gone = await asyncio.to_thread(
            lambda: app.memory.profile.forget(str(body["user"]), str(body["text"]))
        )
        return JSONResponse({"facts": [asdict(f) for f in gone]})

    async def send(request: Request) -> Response:
        body = await request.json()
        user, thread = str(body["user"]), str(body["thread"])
        session = sessions.get(user, thread)
        cancel = sessions.start_reply(user, thread)
        text = str(body["text"])
        return StreamingResponse(
            _stream_reply(session, text, cancel), media_type="application/x-ndjson"
        )

    async def cancel(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"cancelled": sessions.cancel_reply(str(body["user"]), str(body["thread"]))})

    routes = [
        Route("/health", health),
        Route("/cli", cli, methods=["POST"]),
        Route("/chat/history", history),
        Route("/chat/send", send, methods=["POST"]),
        Route("/chat/cancel", cancel, methods=["POST"]),
        Route("/chat/goals", goals),
        Route("/chat/facts", facts),
        Route("/chat/forget", forget, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Auth, token=token)])


def _stream_reply(session: Any, text: str, cancel: threading.Event) -> Iterator[str]:
    """NDJSON: {"token": piece} per generated piece, then {"reply": text} or {"error": line}.

    `cancel` stops generation at the next piece, as Ctrl-C does in a local chat: the
    session keeps what was said with a cancelled mark. A caller that goes away sets it too.
    """
    from assistant.graph.session import ReplyCancelled

    pieces: queue.Queue[dict[str, str] | None] = queue.Queue()

    def on_token(piece: str) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt  # what ChatSession.send settles as a cancelled turn
        pieces.put({"token": piece})

    def work() -> None:
        try:
            reply = session.send(text, on_token=on_token)
            pieces.put({"reply": reply})
        except ReplyCancelled as exc:
            pieces.put({"cancelled": exc.partial})
        except AssistantError as exc:
            pieces.put({"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the reply thread's edge: report, keep serving
            log.exception("a chat reply failed inside the service")
            pieces.put({"error": f"{type(exc).__name__}: {exc} (details in the service log)"})
        finally:
            pieces.put(None)

    threading.Thread(target=work, name="api-reply", daemon=True).start()
    try:
        while (event := pieces.get()) is not None:
            yield json.dumps(event) + "\n"
    finally:
        cancel.set()  # the caller hung up (or the reply is over, where this changes nothing)


class LocalAPIServer:
    """uvicorn serving the local API on the data directory's socket, in a thread."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.path = socket_path()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Write the token, bind the socket (0600), serve; returns the socket path."""
        import uvicorn

        token = write_token()
        self.path.unlink(missing_ok=True)  # left by a service that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        config = uvicorn.Config(
            build_api(self.app, token), log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="local-api", daemon=True
        )
        self._thread.start()
        return str(self.path)

    def stop(self) -> None:
        """Stop serving and remove the socket and the token."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.path.unlink(missing_ok=True)
        token_path().unlink(missing_ok=True)

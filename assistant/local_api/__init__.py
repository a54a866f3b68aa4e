"""The service's local API: while `assistant run` is up, the CLI talks to it.

`assistant run` owns the data directory (the memory store, the checkpointer, the job
store); a second process opening them would be refused or corrupt them. So the service
serves HTTP on a Unix socket in the data directory (Starlette on uvicorn), authenticated
with a bearer token kept in a file only the user can read (0600), and `assistant chat`,
`profile`, `goals`, `feeds`, `digest`, `jobs` and `probe` become its clients (httpx over
the socket). When no service answers, commands open the data directory themselves.
"""

from __future__ import annotations

from pathlib import Path

from assistant.paths import data_dir

SOCKET_FILE = "service.sock"
TOKEN_FILE = "service.token"


def socket_path() -> Path:
    """Where the running service listens."""
    return data_dir() / SOCKET_FILE


def token_path() -> Path:
    """The bearer token of the running service (mode 0600)."""
    return data_dir() / TOKEN_FILE

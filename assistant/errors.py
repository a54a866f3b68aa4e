"""Every error the assistant raises on purpose, and the exit code each maps to.

    AssistantError                  base; message says what went wrong and what to do
    ├── ConfigError                 bad or missing configuration (exit 2)
    ├── ModelLoadError              the language model could not be loaded
    ├── GenerationError             generation failed or was cancelled
    ├── MemoryStoreError            the vector store cannot be used
    │   ├── StoreLockedError        another process owns the data directory
    │   └── DiskFullError           a write hit a full disk (nothing stored is lost)
    ├── ConnectorError              a feed or Slack call failed
    │   ├── ConnectorAuthError      credentials or scopes are wrong
    │   └── RateLimited             the remote service asked us to slow down
    ├── SchedulerError              a scheduled job could not be set up or run
    └── ProbeError                  the self-probe benchmark could not run

Errors become a one-line message and an exit code only at the edges (CLI, Slack
handler, scheduler job wrapper); everywhere else lets them travel.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: the message is shown to the user as one line."""

    exit_code: int = 1


class ConfigError(AssistantError):
    """The configuration file or an override is invalid or missing."""

    exit_code = 2


class ModelLoadError(AssistantError):
    """The language model (or its tokenizer) could not be loaded."""


class GenerationError(AssistantError):
    """Text generation failed."""


class MemoryStoreError(AssistantError):
    """The persistent memory store cannot be opened or used."""


class StoreLockedError(MemoryStoreError):
    """Another process holds the data directory's store lock."""


class ConnectorError(AssistantError):
    """A remote feed or API call failed."""


class ConnectorAuthError(ConnectorError):
    """Credentials, scopes or membership are missing for a remote API."""


class RateLimited(ConnectorError):
    """The remote service rate-limited us; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SchedulerError(AssistantError):
    """A scheduled job could not be registered or run."""


class ProbeError(AssistantError):
    """The self-probe benchmark could not run."""


class DiskFullError(MemoryStoreError):
    """A write failed because the disk (or the data directory's quota) is full."""


_DISK_FULL_WORDS = ("no space left", "disk is full", "disk full", "enospc", "quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or its cause) says the disk is full, whatever layer raised it."""
    import errno

    seen: BaseException | None = exc
    for _ in range(5):  # the cause chain: Chroma and SQLite wrap the OS error
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(word in str(seen).lower() for word in _DISK_FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full_message(where: object) -> str:
    """The one line shown when a write hits a full disk (the data already stored is intact)."""
    return (
        f"disk full: cannot write to {where}; free some space and retry "
        "(what was stored before is intact)"
    )

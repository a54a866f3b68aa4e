"""Every error the assistant raises on purpose, and the exit code each maps to.

    AssistantError                  base; message says what went wrong and what to do
    ├── ConfigError                 bad or missing configuration (exit 2)
    ├── ModelLoadError              the language model could not be loaded
    ├── GenerationError             generation failed or was cancelled
    ├── MemoryStoreError            the vector store cannot be used
    │   └── StoreLockedError        another process owns the data directory
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

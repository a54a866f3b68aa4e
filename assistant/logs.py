"""Logging to stderr and to a rotating file in the data directory."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

from assistant.paths import data_dir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the root logger once per process; -v/-q pick the stderr level."""
    if quiet:
        level = logging.WARNING
    elif verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
    else:
        level = logging.WARNING
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_assistant", False):
            root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    stderr = logging.StreamHandler()
    stderr.setLevel(level)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    stderr._assistant = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    for noisy in ("httpx", "httpcore", "urllib3", "chromadb", "apscheduler.executors", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def attach_file_log() -> None:
    """Add the rotating file log; called only once the configuration loaded cleanly,
    so a bad config or `--help` writes nothing to disk."""
    root = logging.getLogger()
    if any(getattr(h, "_assistant_file", False) for h in root.handlers):
        return
    handler = _file_handler()
    if handler is not None:
        handler._assistant_file = True  # type: ignore[attr-defined]
        root.addHandler(handler)


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file log that, when it cannot write (disk full), says so once in one line.

    logging's default prints a whole traceback per failed record: on a full disk every
    command, even `profile show`, printed 38 lines.
    """

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib name
        if not self.failed:
            self.failed = True
            print(
                f"warning: cannot write the log file {self.baseFilename}; "
                "logging to the terminal only (is the disk full?)",
                file=sys.stderr,
            )


def _file_handler() -> logging.Handler | None:
    # The log file lives in the data dir; when that cannot be created we log to stderr only.
    try:
        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
        handler = _QuietFileHandler(
            folder / "assistant.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._assistant = True  # type: ignore[attr-defined]
    return handler

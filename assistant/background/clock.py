"""The configured time zone, shared by the scheduler, the digest and the service."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.config import Settings
from assistant.errors import ConfigError


def zone(settings: Settings) -> ZoneInfo:
    """The configured time zone, or a ConfigError that says how to fix it."""
    try:
        return ZoneInfo(settings.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"schedule.timezone '{settings.schedule.timezone}' is not an IANA time zone; "
            "use a name such as 'Europe/Berlin' or 'UTC'"
        ) from None

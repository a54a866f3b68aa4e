"""Slack credentials for the bot, and the posts the digest and probe alerts make.

Secrets are read from the environment by the composition root (`assistant.app`), which
also builds the one Web API client (slack-sdk's rate-limit and server-error retry
handlers, from `connectors.slack.web_client`), so a 429 waits for Retry-After instead of
losing a post.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from assistant.app import Secrets

BOT_TOKEN_ENV = "SLACK_BOT_TOKEN"
APP_TOKEN_ENV = "SLACK_APP_TOKEN"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"


@dataclass(frozen=True)
class SlackTokens:
    """Secrets read from the environment."""

    bot_token: str
    app_token: str | None
    signing_secret: str | None

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)


def read_tokens(secrets: Secrets) -> SlackTokens:
    """The bot's tokens from the secrets the app read; a missing one is one line saying
    which variable to set."""
    bot = secrets.slack_bot_token
    app = secrets.slack_app_token or None
    secret = secrets.slack_signing_secret or None
    if not bot:
        raise ConfigError(f"Slack is not configured: set {BOT_TOKEN_ENV} (the xoxb- bot token)")
    if app is None and secret is None:
        raise ConfigError(
            f"Slack needs {APP_TOKEN_ENV} (xapp- token, Socket Mode) or {SIGNING_SECRET_ENV} "
            "(HTTP Events API); set one of them"
        )
    return SlackTokens(bot, app, secret)


def post_digest(client: WebClient, channel: str, blocks: list[dict[str, Any]] | None, text: str) -> str:
    """Post a digest to a channel id or a user id (a DM); returns the message ts."""
    resp = client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
    return str(resp["ts"])


def post_alert(client: WebClient, channel: str, text: str) -> str:
    """Post a one-line alert (e.g. the nightly probe fell below its threshold)."""
    resp = client.chat_postMessage(channel=channel, text=f":warning: {text}", unfurl_links=False)
    return str(resp["ts"])

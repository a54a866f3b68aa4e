"""Slack credentials and the one Web API client factory (bot, digest posts, probe alerts).

Secrets come only from the environment. The client carries slack-sdk's rate-limit and
server-error retry handlers (from `connectors.slack.web_client`), so a 429 waits for
Retry-After instead of losing a post.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from assistant.config import Settings
from assistant.errors import ConfigError

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


def read_tokens() -> SlackTokens:
    """Tokens from the environment; a missing one is one line saying which variable to set."""
    bot = os.environ.get(BOT_TOKEN_ENV, "").strip()
    app = os.environ.get(APP_TOKEN_ENV, "").strip() or None
    secret = os.environ.get(SIGNING_SECRET_ENV, "").strip() or None
    if not bot:
        raise ConfigError(f"Slack is not configured: set {BOT_TOKEN_ENV} (the xoxb- bot token)")
    if app is None and secret is None:
        raise ConfigError(
            f"Slack needs {APP_TOKEN_ENV} (xapp- token, Socket Mode) or {SIGNING_SECRET_ENV} "
            "(HTTP Events API); set one of them"
        )
    return SlackTokens(bot, app, secret)


RATE_LIMIT_RETRIES = 10  # found by bench/faults.py: with 3, a reply was lost in a 429 storm


def slack_client(settings: Settings, token: str | None = None) -> WebClient:
    """The one Web API client factory (bot replies, digest posts, probe alerts): slack-sdk's
    rate-limit and server-error retry handlers, pointed at ``settings.slack.base_url``."""
    from connectors.slack import web_client

    base_url = settings.slack.base_url if settings.slack.base_url.endswith("/") else settings.slack.base_url + "/"
    # A 429 storm shared by several replies can hit one call more than 3 times in a row;
    # each wait is bounded by Retry-After (max 120 s), so more retries cost time, not loss.
    token = token if token is not None else os.environ.get(BOT_TOKEN_ENV, "")
    return web_client(token, base_url, retries=RATE_LIMIT_RETRIES)


def post_digest(client: WebClient, channel: str, blocks: list[dict[str, Any]] | None, text: str) -> str:
    """Post a digest to a channel id or a user id (a DM); returns the message ts."""
    resp = client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
    return str(resp["ts"])


def post_alert(client: WebClient, channel: str, text: str) -> str:
    """Post a one-line alert (e.g. the nightly probe fell below its threshold)."""
    resp = client.chat_postMessage(channel=channel, text=f":warning: {text}", unfurl_links=False)
    return str(resp["ts"])

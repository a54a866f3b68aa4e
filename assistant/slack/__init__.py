"""Pieces of the Slack bot: event dedupe, the HTTP listener, streamed replies, commands.

The entry point is `assistant.slack.bot` (`create_app`, `start_slack`).
"""

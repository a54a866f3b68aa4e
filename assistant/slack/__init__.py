"""Pieces of the Slack bot: event dedupe, the HTTP listener, streamed replies, commands.

The entry point stays `assistant.slackbot` (`create_app`, `start_slack`).
"""

"""The background flow: scheduler, service, summaries and the digest."""

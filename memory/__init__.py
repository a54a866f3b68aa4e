"""Persistent memory: who each user is, what they want, and what their feeds said.

`memory.store.open_store(settings)` opens it; everything else hangs off the store:
`profile` (facts from the user's own words), `goals`, `items` (feed items), `episodes`
(past thread summaries) and `state` (cursors). Modules: `scoped` (the one place that
scopes every Chroma call to a user), `embeddings`, `extract` (rules + model JSON),
`lock` (one owner process), `repair` (vector index rebuild from SQLite).
"""

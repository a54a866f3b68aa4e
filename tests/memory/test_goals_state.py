"""Goals persist per user with their status; the state store keeps cursors durably."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import MemoryStoreError
from memory.store import MemoryStore, open_store
from memory.types import Goal


def test_goals_save_update_list(store: MemoryStore, store_path: Path) -> None:
    trip = store.goals.save(
        Goal(id="", user_id="ann", statement="Plan a trip to Japan", missing=("dates", "budget"))
    )
    assert trip.id and trip.created > 0
    store.goals.save(Goal(id="g2", user_id="ann", statement="Write the thesis", status="waiting"))
    store.goals.save(Goal(id="g3", user_id="ann", statement="Fix the bike", status="done"))
    assert {g.id for g in store.goals.open_goals("ann")} == {trip.id, "g2"}
    done = store.goals.save(Goal(id=trip.id, user_id="ann", statement=trip.statement, known=("dates",),
                                 status="done", created=trip.created))  # fmt: skip
    assert done.created == trip.created and done.updated >= trip.updated
    assert [g.id for g in store.goals.list("ann", status="done")] == [trip.id, "g3"]
    assert store.goals.search("ann", "travel abroad", k=1)[0][0].id == trip.id
    store.close()
    with open_store(Settings(), path=store_path) as again:
        got = again.goals.get("ann", trip.id)
        assert got is not None and got.known == ("dates",) and got.missing == ()
        assert got.status == "done"


def test_goal_validation(store: MemoryStore) -> None:
    with pytest.raises(MemoryStoreError, match="statement"):
        store.goals.save(Goal(id="", user_id="ann", statement="  "))
    with pytest.raises(MemoryStoreError, match="status"):
        store.goals.save(Goal(id="", user_id="ann", statement="x", status="paused"))  # type: ignore[arg-type]


def test_state_roundtrip_and_persistence(store: MemoryStore, store_path: Path) -> None:
    assert store.state.get("feeds:etag:cs.CL") is None
    assert store.state.get("missing", default=7) == 7
    store.state.set("feeds:etag:cs.CL", 'W/"abc"')
    store.state.set("slack:last_ts:C1", {"ts": "1712345678.000100", "n": 3})
    store.state.set("feeds:etag:cs.CL", 'W/"def"')
    assert store.state.keys("feeds:") == ["feeds:etag:cs.CL"]
    with pytest.raises(MemoryStoreError, match="JSON"):
        store.state.set("bad", object())
    store.close()
    with open_store(Settings(), path=store_path) as again:
        assert again.state.get("feeds:etag:cs.CL") == 'W/"def"'
        assert again.state.get("slack:last_ts:C1") == {"ts": "1712345678.000100", "n": 3}
        assert again.state.get("bad") is None

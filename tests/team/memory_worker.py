"""A second process on the shared memory store: `python -m tests.team.memory_worker PORT STATE_DIR`.

Remembers a fact for "ann" and prints "written"; on a line from stdin it stores a feed
item for ann, reads back what it finds for ann and bob (as JSON) and exits.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from assistant.config import Settings
    from memory.store import open_store

    port, state = sys.argv[1], sys.argv[2]
    settings = Settings.model_validate({"memory": {"backend": "http", "port": int(port)}})
    with open_store(settings, path=__import__("pathlib").Path(state)) as store:
        store.profile.remember("ann", "User's favourite city is Lisbon", "preference")
        print("written", flush=True)
        sys.stdin.readline()
        from memory.types import Item

        store.items.upsert([Item(id="arxiv:2501.00002", owner="ann", source="arxiv",
                                 title="Quokka sightings on Rottnest", text="Quokka sightings on Rottnest")])
        seen = {
            "ann_facts": [f.text for f in store.profile.facts("ann")],
            "ann_recall": [h.fact.text for h in store.profile.recall("ann", "What is the dog's name?", k=2)],
            "bob_facts": [f.text for f in store.profile.facts("bob")],
            "bob_recall": [h.fact.text for h in store.profile.recall("bob", "dog name city", k=5)],
        }
        print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()

"""Probe every collection's vector index in a child process, so a torn index cannot crash us.

A damaged HNSW file can make Chroma raise, answer with too few neighbours, or segfault
(seen with a garbage header.bin). The owner runs this module as a subprocess before it
opens Chroma itself: a crash here costs one child, and the collection it was probing is
rebuilt instead of probed again.

    python -m memory.probe FOLDER [--skip NAME ...]   # prints {"damaged": {name: reason}}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PROBE_MARKER = "assistant-probe.json"  # names the collection being probed; left behind by a crash
CHILD_TIMEOUT_S = 300
MAX_PROBE_NEIGHBOURS = 200_000  # one query this wide takes well under a second
INDEX_FINGERPRINT = "assistant-index.json"  # the index files as the last clean close left them


def unreachable_ok(count: int) -> int:
    """Records a healthy index may miss in one all-neighbours query (HNSW is approximate).

    Measured on Chroma 1.5: 2,699 of 2,700 for a sound index, while damage loses far more
    (601 of 2,500, 189 of 2,720); a strict check rebuilt sound indexes after every unclean stop.
    """
    return max(2, count // 100)


def index_fingerprint(folder: Path) -> dict[str, list[int]]:
    """{relative file: [size, mtime_ns]} of every vector index file in the folder."""
    out: dict[str, list[int]] = {}
    for seg in sorted(p for p in folder.iterdir() if p.is_dir() and len(p.name) == 36):
        for f in sorted(seg.iterdir()):
            try:
                st = f.stat()
            except OSError:
                continue
            out[f"{seg.name}/{f.name}"] = [st.st_size, st.st_mtime_ns]
    return out


def remember_index(folder: Path) -> None:
    """Record the index files after a clean close, so the next open can trust them unprobed."""
    tmp = folder / (INDEX_FINGERPRINT + ".tmp")
    tmp.write_text(json.dumps(index_fingerprint(folder)))
    os.replace(tmp, folder / INDEX_FINGERPRINT)


def index_unchanged(folder: Path) -> bool:
    """True when the index files are exactly as the last clean close left them.

    Anything else (files deleted or rewritten while no owner ran, an older release that
    kept no record) gets a full probe, not only an unclean stop.
    """
    try:
        saved = json.loads((folder / INDEX_FINGERPRINT).read_text())
    except (OSError, ValueError):
        return False
    return bool(saved == index_fingerprint(folder))


def find_damaged(folder: Path) -> dict[str, str]:
    """{collection name: what is wrong} for every damaged collection (runs probe children)."""
    damaged: dict[str, str] = {}
    marker = folder / PROBE_MARKER
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    for _attempt in range(1000):  # each crash retires one collection, so this ends
        marker.unlink(missing_ok=True)
        args = [sys.executable, "-m", "memory.probe", str(folder)]
        for name in damaged:
            args += ["--skip", name]
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env
            )
        except subprocess.TimeoutExpired:
            done = None
        if done is not None and done.returncode == 0:
            damaged.update(json.loads(done.stdout.strip().splitlines()[-1])["damaged"])
            break
        crashed = _read_marker(marker)
        how = "hung" if done is None else f"crashed (exit {done.returncode})"
        if crashed is None:  # it died before probing anything: cannot tell which; stop probing
            break
        damaged[crashed] = f"probing it {how}"
    marker.unlink(missing_ok=True)
    return damaged


def _read_marker(marker: Path) -> str | None:
    try:
        return str(json.loads(marker.read_text())["probing"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _probe_all(folder: Path, skip: set[str]) -> dict[str, str]:
    import sqlite3

    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    db = sqlite3.connect(f"file:{folder / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        sizes = db.execute(
            "SELECT c.name, COALESCE(c.dimension, 0), (SELECT count(*) FROM embeddings e JOIN segments s "
            "ON e.segment_id = s.id WHERE s.collection = c.id AND s.scope = 'METADATA') FROM collections c"
        ).fetchall()
    finally:
        db.close()
    client = chromadb.PersistentClient(
        str(folder), settings=ChromaSettings(anonymized_telemetry=False)
    )
    damaged: dict[str, str] = {}
    marker = folder / PROBE_MARKER
    for name, dim, count in sorted(sizes):
        if name in skip or not count:
            continue
        marker.write_text(json.dumps({"probing": name}))
        if os.environ.get("ASSISTANT_PROBE_ABORT") == name:  # lets tests crash a probe for real
            os.abort()
        try:
            col = client.get_collection(name, embedding_function=None)
            col.count()  # raises cleanly on a broken header, before a query could segfault on it
            col.get(limit=1, include=["metadatas"])
            # Ask for every record: an index that lost files (its id map, a whole segment
            # folder) still answers a few neighbours but not all of them (601 of 2,500 seen).
            want = min(int(count), MAX_PROBE_NEIGHBOURS)
            query = np.full(dim or 384, (dim or 384) ** -0.5, dtype=np.float32)
            got = len(col.query(query_embeddings=[query], n_results=want, include=[])["ids"][0])
            if got < want - unreachable_ok(want):
                damaged[name] = f"index returns {got} of {want} neighbours for {count} records"
        except Exception as exc:  # any failure to read means the index cannot be trusted
            damaged[name] = f"{type(exc).__name__}: {exc}"
    marker.unlink(missing_ok=True)
    client.close()  # type: ignore[attr-defined]  # present on chromadb 1.x clients, not in its stubs
    return damaged


def main() -> None:
    parser = argparse.ArgumentParser(description="probe Chroma vector indexes")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--skip", action="append", default=[])
    args = parser.parse_args()
    print(json.dumps({"damaged": _probe_all(args.folder, set(args.skip))}))


if __name__ == "__main__":
    main()

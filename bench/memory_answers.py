"""Answer accuracy on LoCoMo: does the reply state what memory holds? Prints JSON.

    PYTHONPATH=. .venv/bin/python bench/memory_answers.py                       # five conversations, every question
    PYTHONPATH=. .venv/bin/python bench/memory_answers.py --convs 2 --questions-per-category 3
    PYTHONPATH=. .venv/bin/python bench/memory_answers.py --out docs/quality/answers  # + transcripts

Data: LoCoMo (Maharana et al., ACL 2024, arXiv 2402.17753; CC BY-NC 4.0), the five
conversations of ../shared/data/locomo-dev5.json (a development set: the grounding's
threshold was chosen on it). Each conversation becomes one user's history through the
product's own write path (every turn an episode of that user, speaker and session time
kept, as the chat's `remember` node stores turns); each question is then sent through
`ChatSession.send`, the function the terminal and Slack call, on a thread of its own.

Scoring follows LoCoMo's evaluation: token F1 of the reply against the gold answer after
normalisation (lower case, punctuation, articles and "and" dropped, Porter stems), for
multi-hop (category 1) the mean over the gold's comma-separated parts; exact match of the
normalised reply; "contains" (the normalised gold inside the normalised reply). Category
5 questions have no answer in the conversation: the score is whether the reply declines.
Baselines in the same run, on the same questions: `no_memory` (the same session path, the
grounding switched off, a user with an empty memory) and `top_turn` (the best turn of the
store's own search, verbatim, as the reply).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.memory_recall import DATA, Conversation, Question, load  # noqa: E402

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
METHODS = ("grounded", "no_memory", "top_turn")
# A reply that says it does not know (any method's: the model's words or the product's).
DECLINES = re.compile(
    r"\b(?:(?:don't|do not|didn't) (?:know|have|recall)|not mentioned|no information|"
    r"nothing (?:you|i|about)|not sure|can't say|cannot say|no record|never (?:said|mentioned|told))\b",
    re.IGNORECASE,
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _stemmer() -> Any:
    try:
        from nltk.stem import PorterStemmer

        return PorterStemmer()
    except ImportError:  # scores then differ slightly from LoCoMo's
        return None


STEM = _stemmer()


def normalise(text: str) -> str:
    """LoCoMo's answer normalisation: lower case, no commas/punctuation/articles/"and"."""
    text = text.replace(",", "").lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the|and)\b", " ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    words = normalise(text).split()
    return [STEM.stem(w) for w in words] if STEM is not None else words


def f1(reply: str, gold: str) -> float:
    """Token F1 of a reply against one gold answer."""
    got, want = _tokens(reply), _tokens(gold)
    common = sum((Counter(got) & Counter(want)).values())
    if not common:
        return 0.0
    p, r = common / len(got), common / len(want)
    return 2 * p * r / (p + r)


def score(reply: str, gold: str, category: int) -> dict[str, float]:
    """F1, exact match and contains for one reply (category 1: mean F1 over the gold's parts)."""
    if category == 1:
        parts = [p for p in gold.split(",") if p.strip()] or [gold]
        value = sum(f1(reply, p) for p in parts) / len(parts)
    else:
        value = f1(reply, gold)
    got, want = normalise(reply), normalise(gold)
    return {"f1": value, "em": float(got == want), "contains": float(bool(want) and want in got)}


def pick(questions: list[Question], per_category: int | None) -> list[Question]:
    """At most `per_category` questions per category, evenly spaced over the conversation."""
    if not per_category:
        return questions
    out: list[Question] = []
    for cat in CATEGORIES:
        of = [q for q in questions if q.category == cat]
        step = max(1.0, len(of) / per_category)
        out += [of[int(i * step)] for i in range(min(per_category, len(of)))]
    return out


def golds(raw: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(conversation id, question) -> gold answer (category 5: the adversarial answer)."""
    out = {}
    for conv in raw:
        for q in conv["qa"]:
            out[(str(conv["sample_id"]), str(q["question"]))] = str(
                q.get("answer", q.get("adversarial_answer", ""))
            )
    return out


def ingest(store: Any, conv: Conversation) -> None:
    """Every turn an episode of the conversation's user (what the chat's remember node writes)."""
    from memory.types import EpisodeIn

    rows = [
        EpisodeIn(t.text, thread=f"session_{t.session}", speaker=t.speaker, time=t.time, id=t.id)
        for t in conv.turns
    ]
    for i in range(0, len(rows), 64):
        store.episodes.add_many(conv.user, rows[i : i + 64])


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method in METHODS:
        per: dict[str, Any] = {}
        for cat, name in CATEGORIES.items():
            of = [r for r in rows if r["category"] == cat]
            if not of:
                continue
            if cat == 5:
                per[name] = {
                    "n": len(of),
                    "declined": round(sum(r[method]["declined"] for r in of) / len(of), 3),
                }
                continue
            per[name] = {
                "n": len(of),
                **{
                    k: round(sum(r[method][k] for r in of) / len(of), 3)
                    for k in ("f1", "em", "contains")
                },
            }
        answerable = [r for r in rows if r["category"] != 5]
        if answerable:
            per["categories_1_4"] = {
                "n": len(answerable),
                **{
                    k: round(sum(r[method][k] for r in answerable) / len(answerable), 3)
                    for k in ("f1", "em", "contains")
                },
            }
        out[method] = per
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="LoCoMo JSON (list of conversations)")
    ap.add_argument("--convs", type=int, default=None, help="the first N conversations")
    ap.add_argument(
        "--questions-per-category",
        type=int,
        default=None,
        help="at most N questions per category per conversation, evenly spaced",
    )
    ap.add_argument("--reply-tokens", type=int, default=96, help="reply budget of the model")
    ap.add_argument(
        "--no-goal-model",
        action="store_true",
        help="goal tracking by the rules alone (saves one model call per question on a busy machine)",
    )
    ap.add_argument(
        "--summarise",
        type=Path,
        default=None,
        help="only score the rows of an earlier run's transcripts file (a run cut short)",
    )
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSON and transcripts")
    args = ap.parse_args(argv)
    if args.summarise is not None:
        rows = [json.loads(line) for line in args.summarise.read_text().splitlines() if line]
        print(json.dumps({"questions": len(rows), "scores": summarise(rows)}, indent=2))
        return 0
    if not args.data.exists():
        ap.error(f"{args.data} not found; pass --data PATH to a LoCoMo JSON file")

    raw = json.loads(args.data.read_text(encoding="utf-8"))[: args.convs]
    answers = golds(raw)
    convs = load(args.data, args.convs)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    transcript = args.out / "memory_answers_transcripts.jsonl" if args.out else None

    with tempfile.TemporaryDirectory() as home:
        os.environ["ASSISTANT_HOME"] = home  # a fresh data directory, as a new user has
        from langgraph.checkpoint.memory import InMemorySaver

        from assistant.config import load_settings
        from assistant.graph.session import ChatSession
        from assistant.llm.engine import load_engine
        from memory.store import open_store

        base = load_settings().settings
        chat = base.chat.model_copy(update={"reply_tokens": args.reply_tokens})
        if args.no_goal_model:
            chat = chat.model_copy(update={"goal_model": False})
        settings = base.model_copy(update={"chat": chat})
        plain = base.model_copy(update={"chat": chat.model_copy(update={"grounded": False})})
        started = time.monotonic()
        llm = load_engine(settings)
        log(f"model loaded in {time.monotonic() - started:.1f} s")
        rows: list[dict[str, Any]] = []
        started = time.monotonic()
        with open_store(settings, llm=llm) as store:
            saver = InMemorySaver()
            for conv in convs:
                t0 = time.monotonic()
                ingest(store, conv)
                log(f"{conv.id}: {len(conv.turns)} turns stored in {time.monotonic() - t0:.0f} s")
                asked = pick(conv.questions, args.questions_per_category)
                # the top turn is read before any question is asked (asking stores turns too)
                tops: list[Any] = [
                    next(iter(store.search(conv.user, q.text, kinds=("episodes",), k=1)), None)
                    for q in asked
                ]
                session = ChatSession(settings, llm, store, saver, user_id=conv.user, thread_id="q")
                bare = ChatSession(
                    plain, llm, store, saver, user_id=f"{conv.user}-new", thread_id="q"
                )
                for n, (q, top) in enumerate(zip(asked, tops, strict=True)):
                    gold = answers.get((conv.id, q.text), "")
                    replies = {}
                    seconds = {}
                    for method, who in (("grounded", session), ("no_memory", bare)):
                        who.switch(f"q{n}")
                        t1 = time.monotonic()
                        replies[method] = who.send(q.text)
                        seconds[method] = round(time.monotonic() - t1, 2)
                    replies["top_turn"] = top.text if top is not None else ""
                    row: dict[str, Any] = {
                        "conversation": conv.id,
                        "question": q.text,
                        "category": q.category,
                        "gold": gold,
                        "seconds": seconds,
                    }
                    for method in METHODS:
                        row[method] = {
                            "reply": replies[method],
                            **score(replies[method], gold, q.category),
                            "declined": float(bool(DECLINES.search(replies[method]))),
                        }
                    rows.append(row)
                    if transcript is not None:
                        with transcript.open("a", encoding="utf-8") as fh:
                            fh.write(json.dumps(row) + "\n")
                log(
                    f"{conv.id}: {len(asked)} questions ({time.monotonic() - started:.0f} s so far)"
                )
    result = {
        "bench": "memory_answers",
        "data": str(args.data.name),
        "set": "development (the grounding threshold was chosen on these conversations)",
        "convs": len(convs),
        "questions_per_category": args.questions_per_category,
        "questions": len(rows),
        "reply_tokens": args.reply_tokens,
        "goal_model": not args.no_goal_model,
        "stemmed": STEM is not None,
        "seconds": round(time.monotonic() - started, 1),
        "scores": summarise(rows),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        (args.out / "memory_answers.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

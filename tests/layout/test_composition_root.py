"""Only the composition root (assistant/app.py) builds the engine, the memory store, the
checkpointer and Slack clients, and only it reads secrets from the environment; each
factory's own module may of course define (and call) it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.layout.test_import_graph import PACKAGES, ROOT

ROOT_MODULE = "assistant/app.py"
# what builds a part -> the modules besides the root allowed to call it (their home)
BUILDERS = {
    "shared_engine": {"assistant/llm/engine.py"},
    # a Ray Serve replica is its own process: it loads the engine it serves
    "load_engine": {"assistant/llm/engine.py", "assistant/llm/served.py"},
    "open_store": {"memory/store.py"},
    "open_checkpointer": {"assistant/graph/session.py"},
    "web_client": {"connectors/slack.py"},
    "WebClient": {"connectors/slack.py"},
    "PersistentClient": {"memory/store.py", "memory/probe.py"},  # the index probe's child
    "HttpClient": {"memory/store.py"},
}
# a response_url hook carries no token: it answers one slash command or button
ALLOWED_ELSEWHERE = {("WebhookClient", "assistant/slack/bot.py")}
SECRET_NAMES = ("SLACK_", "ASSISTANT_CHROMA_TOKEN")
SECRET_CONSTANTS = ("BOT_TOKEN_ENV", "APP_TOKEN_ENV", "SIGNING_SECRET_ENV", "CHROMA_TOKEN_ENV")


def _files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _reads_a_secret(node: ast.AST) -> bool:
    """os.environ.get(X), os.getenv(X), os.environ[X] with X a Slack or Chroma secret or
    the Postgres URL's variable."""
    key: ast.AST | None = None
    if isinstance(node, ast.Call) and _called(node) in ("get", "getenv") and node.args:
        target = ast.unparse(node.func)
        if "environ" in target or target.endswith("getenv"):
            key = node.args[0]
    elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
        key = node.slice
    if key is not None and "postgres_url" in ast.unparse(key):  # the checkpointer's URL
        return True
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value.startswith(SECRET_NAMES)
    return isinstance(key, ast.Name) and key.id in SECRET_CONSTANTS


def test_only_the_composition_root_builds_parts_and_reads_secrets() -> None:
    builds: list[str] = []
    secrets: list[str] = []
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == ROOT_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = _called(node)
                if name in BUILDERS and rel not in BUILDERS[name]:
                    builds.append(f"{rel}:{node.lineno} calls {name}")
                other_client = name.endswith("Client") and name.startswith(("Web", "Socket"))
                if other_client and name not in BUILDERS and (name, rel) not in ALLOWED_ELSEWHERE:
                    builds.append(f"{rel}:{node.lineno} builds {name}")
            if _reads_a_secret(node):
                secrets.append(f"{rel}:{getattr(node, 'lineno', '?')}")
    assert builds == [], "build these in assistant/app.py and pass them in"
    assert secrets == [], "read secrets through assistant.app.read_secrets"


def test_the_checks_see_a_violation() -> None:
    tree = ast.parse(
        'import os\nos.environ.get("SLACK_BOT_TOKEN")\nx = os.environ[BOT_TOKEN_ENV]\n'
        "os.environ.get(settings.chat.postgres_url_env)\n"
    )
    assert sum(_reads_a_secret(n) for n in ast.walk(tree)) == 3
    call = ast.parse("open_store(settings)").body[0].value  # type: ignore[attr-defined]
    assert _called(call) == "open_store"


def test_the_memory_boundary_is_typed() -> None:
    """Code outside memory/ takes its store as memory.interface.Memory, never as Any."""
    loose = []
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("memory/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.arg, ast.AnnAssign)):
                name = node.arg if isinstance(node, ast.arg) else ast.unparse(node.target)
                note = node.annotation
                if name.split(".")[-1] == "store" and note is not None and ast.unparse(note) in ("Any", "object"):
                    loose.append(f"{rel}:{node.lineno}")
    assert loose == []

"""Fixtures for the team profile: one PostgreSQL server per test session, a fresh
database per test, and the settings a team replica runs with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.team.pgserver import PgServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server started by the suite on a Unix socket (skipped only when the
    server binaries cannot be had on this machine)."""
    why = PgServer.missing()
    if why:
        pytest.skip(why)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed; `make install` installs the postgres extra")
    server = PgServer.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A URL to an empty database of its own (dropped after the test)."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    admin = pg_server.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.replace("/assistant?", f"/{name}?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

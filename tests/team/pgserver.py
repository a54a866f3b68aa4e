"""A throw-away PostgreSQL server for tests and benches: Debian's binaries, `initdb` and
`pg_ctl` on a Unix socket in a temporary folder, nothing listening on TCP.

    server = PgServer.start()          # or PgServer.missing() -> why it cannot run
    server.url                          # postgresql://assistant@/assistant?host=/tmp/...
    server.stop()

Postgres refuses to run as root, and CI runs as root: then the cluster belongs to the
`postgres` system user (created by the Debian package) and every server command runs
through `runuser`; the socket folder is open to root anyway.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "assistant"  # the cluster's superuser name (trust auth on the private socket)
DATABASE = "assistant"


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (newest Debian version first)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _run_as() -> str | None:
    """The system user to run the server as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


@dataclass
class PgServer:
    """One running cluster; `url` is a libpq URL over its Unix socket."""

    folder: Path
    bindir: Path
    user: str | None

    @property
    def socket_dir(self) -> Path:
        return self.folder

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@/{DATABASE}?host={self.socket_dir}"

    @staticmethod
    def missing() -> str:
        """Why no server can be started here, or "" when one can."""
        bindir = find_bindir()
        if bindir is None:
            return (
                "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
                "`make test` installs them as root (apt-get install postgresql)"
            )
        if os.geteuid() == 0 and (_run_as() is None or shutil.which("runuser") is None):
            return "running as root without a 'postgres' user or runuser to start PostgreSQL as"
        return ""

    @classmethod
    def start(cls, timeout_s: float = 60.0) -> PgServer:
        """initdb a fresh cluster in a new temporary folder and start it."""
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(cls.missing())
        user = _run_as()
        # Short path: a Unix socket path must stay under ~100 bytes.
        folder = Path(tempfile.mkdtemp(prefix="apg-", dir="/tmp"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = cls(folder=folder, bindir=bindir, user=user)
        try:
            server._cmd(
                "initdb", "-D", str(folder / "data"), "-U", USER, "--auth=trust",
                "--no-sync", "-E", "UTF8", "--locale=C",
            )  # fmt: skip
            options = (
                f"-c listen_addresses='' -c unix_socket_directories='{folder}' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100"
            )
            server._cmd(
                "pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"),
                "-o", options, "-w", "-t", str(int(timeout_s)), "start",
            )  # fmt: skip
            server._create_database(timeout_s)
        except Exception:
            server.stop()
            raise
        return server

    def _cmd(self, name: str, *args: str) -> None:
        argv = [str(self.bindir / name), *args]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.folder, timeout=120)
        if done.returncode != 0:
            log = ""
            if (self.folder / "log").exists():
                log = (self.folder / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()} {log}")

    def _create_database(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        admin = f"postgresql://{USER}@/postgres?host={self.socket_dir}"
        while True:
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        if (self.folder / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._cmd("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

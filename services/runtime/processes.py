"""``dispatch1310 up``: the embedded NATS server and every service as its own process.

Also what ``bench`` runs its systems with (``ProcessGroup``, ``declare_streams``, ``wait_healthy``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from services.adapters.embedded_nats import EmbeddedCluster, EmbeddedNats, EmbeddedNatsError
from services.adapters.nats_auth import ADMIN, authorization_block, load_passwords, url_with_user
from services.adapters.streams import connect, ensure_streams
from services.registry import SERVICES
from services.runtime.lifeline import Lifeline
from services.runtime.settings import Settings


class ProcessGroup:
    """Children started together and stopped together; none is left orphaned, not even when
    the supervisor is killed with kill -9 (each child follows its lifeline: see lifeline.py)."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.lifeline = Lifeline()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def spawn(self, name: str, env: dict[str, str]) -> None:
        with self._lock:
            self.envs[name] = env
            self._start(name)

    def dead(self) -> list[str]:
        return [name for name, proc in self.children.items() if proc.poll() is not None]

    def respawn_dead(self) -> list[str]:
        """Start again, with its environment, every child that exited (crashed, killed, or gave
        up starting because NATS went away in the middle of it)."""
        with self._lock:
            names = [] if self._stopping.is_set() else self.dead()
            for name in names:
                print(f"service {name} exited; restarting it", file=sys.stderr, flush=True)
                self._start(name)
        return names

    def supervise(self, interval: float = 0.25) -> None:
        """Respawn dead children from a background thread until ``stop`` (as ``up`` does in
        its loop), for a system run inside tests and benchmarks."""

        def loop() -> None:
            while not self._stopping.wait(interval):
                self.respawn_dead()

        threading.Thread(target=loop, name="supervise", daemon=True).start()

    def _start(self, name: str) -> None:
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "service", name],
            env={**self.envs[name], **self.lifeline.env()},
            stdin=subprocess.DEVNULL,
            pass_fds=self.lifeline.pass_fds(),
            start_new_session=True,  # Ctrl-C reaches only `up`, which stops children in order
        )

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()  # nothing is respawned from here on
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.children.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.lifeline.close()


async def declare_streams(admin_url: str, replicas: int = 1) -> None:
    """As admin, once: every stream and bucket, brought up to the current configuration."""
    nc = await connect(admin_url, "up")
    try:
        await ensure_streams(nc.jetstream(), replicas, update=True)
    finally:
        await nc.close()


def metrics_dir(data_dir: Path) -> Path:
    """Where ``up``'s services keep their Prometheus figures: ``PROMETHEUS_MULTIPROC_DIR`` if
    set, else ``<data dir>/metrics``."""
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(data_dir) / "metrics")


def metrics_env(path: Path) -> dict[str, str]:
    """The environment under which the services of one run keep their Prometheus figures in
    ``path`` for the intake's ``/metrics`` to add up (prometheus-client's multi-process mode);
    ``path`` is emptied first: a new run's counters start at 0."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(path)}


def started_services(metrics_path: Path) -> set[str]:
    """The services of a run (its ``metrics_env`` dir) that started serving: each begins its
    heartbeat only then (``service`` command)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from services.runtime.metrics import HEARTBEAT_AT_NAME

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_path))
    return {
        sample.labels["service"]
        for family in registry.collect()
        if family.name == HEARTBEAT_AT_NAME
        for sample in family.samples
        if sample.value > 0
    }


def wait_started(metrics_path: Path, names: Iterable[str], timeout: float = 30.0) -> bool:
    """Whether every service of ``names`` started serving within ``timeout`` seconds."""
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted <= started_services(metrics_path):
            return True
        time.sleep(0.05)
    return False


def wait_healthy(url: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def restart_nats(server: EmbeddedNats | EmbeddedCluster) -> None:
    """The same server again (port, config, data dir): services reconnect by themselves and
    JetStream's file storage kept every acknowledged event. A failed start is tried again."""
    print("nats-server exited; restarting it", file=sys.stderr, flush=True)
    try:
        server.restart_dead()
    except EmbeddedNatsError as exc:
        print(f"nats-server did not restart: {exc}", file=sys.stderr, flush=True)


def up(settings: Settings, services: list[str] | None = None, cluster: int = 1) -> int:
    server: EmbeddedNats | EmbeddedCluster | None = None
    group = ProcessGroup()
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        names = services or list(SERVICES)
        urls: dict[str, str]
        if settings.nats_url is None:
            nats_dir = Path(settings.data_dir) / "nats"
            passwords = load_passwords(nats_dir)
            auth = authorization_block(passwords)
            if cluster > 1:
                server = EmbeddedCluster(
                    nats_dir, size=cluster, extra_config=auth, die_with_parent=True
                ).start()
                settings = settings.with_(replicas=min(cluster, 3))
            else:
                server = EmbeddedNats(nats_dir, extra_config=auth, die_with_parent=True).start()
            asyncio.run(
                declare_streams(url_with_user(server.url, ADMIN, passwords[ADMIN]), settings.replicas)
            )
            urls = {name: url_with_user(server.url, name, passwords[name]) for name in names}
            print(f"nats      {server.url}  (embedded; data and credentials in {nats_dir})", flush=True)
        else:
            urls = dict.fromkeys(names, settings.nats_url)
            print(f"nats      {settings.nats_url}", flush=True)
        env = {
            **os.environ,
            **metrics_env(metrics_dir(settings.data_dir)),
            "DISPATCH1310_REPLICAS": str(settings.replicas),
        }
        for name in names:
            group.spawn(name, {**env, "NATS_URL": urls[name]})
        if not wait_healthy(settings.http_url):
            print("intake did not become healthy in 20 s", file=sys.stderr)
            return 1
        print(f"resident  {settings.http_url}/", flush=True)
        print(f"responder {settings.http_url}/responder", flush=True)
        print(f"board     {settings.http_url}/board", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            if server is not None and server.dead:
                restart_nats(server)
            group.respawn_dead()
            time.sleep(0.5)
        return 0
    finally:
        group.stop()
        if server is not None:
            server.stop()
        print("stopped", flush=True)

"""Deployment files agree with the code: compose covers every service, CI runs make test."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_every_service_against_nats() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    nodes = [name for name in services if name.startswith("nats")]
    assert len(nodes) == 3, "a 3-node NATS cluster"
    nats_conf = (ROOT / "deploy" / "nats.conf").read_text()
    assert "sync_interval: always" in nats_conf and "routes:" in nats_conf
    for name in SERVICES:
        assert name in services, f"docker-compose.yml has no entry for service {name}"
        entry = services[name]
        assert entry["command"] == ["service", name]
        assert entry["environment"]["NATS_URL"].split(",") == [f"nats://{node}:4222" for node in nodes]
        assert entry["environment"]["DISPATCH1310_REPLICAS"] == "3"
        assert set(entry["depends_on"]) == set(nodes)
        # one keys/ for all: the answer links the notifier signs are checked by the intake
        data_dir = entry["environment"]["DISPATCH1310_DATA"]
        assert f"keys:{data_dir}/keys" in entry["volumes"], f"{name} does not share the data dir's keys/"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme

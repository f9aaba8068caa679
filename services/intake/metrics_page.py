"""``/metrics``: what every service recorded, plus the figures of the whole system, read now.

The services' own figures come from the multi-process directory (``PROMETHEUS_MULTIPROC_DIR``,
set by ``up``) or, without it, from this process (tests run every service in one process).
Beside them, read at scrape time:

* the board's open calls by level, held calls and calls with nobody reached (``unreached``);
* each durable consumer's lag (``num_pending``) and unacknowledged messages, from JetStream;
* ``dispatch1310_checkpoint_age_seconds`` and ``dispatch1310_service_up`` from the
  timestamps the services record (a timestamp ages by itself; an age gauge set by a dead
  process would not).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import structlog
from nats.aio.client import Client
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from events import subjects
from events.models import LEVELS
from services.domain.aggregate import CallState
from services.intake.views import unreached
from services.runtime import metrics

log = structlog.get_logger("metrics")
SERVICE_SILENT_S = 3 * metrics.HEARTBEAT_EVERY_S  # no heartbeat for this long: down
CONSUMER_INFO_TIMEOUT_S = 2.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class ConsumerLag:
    stream: str
    durable: str
    pending: int  # stored, not yet delivered
    ack_pending: int  # delivered, not yet acknowledged


def board_families(open_calls: Iterable[CallState]) -> list[Metric]:
    by_level = dict.fromkeys(LEVELS, 0)
    held = nobody = 0
    for state in open_calls:
        if not state.is_open:
            continue
        by_level[state.level] = by_level.get(state.level, 0) + 1
        held += state.held is not None
        nobody += unreached(state)
    levels = GaugeMetricFamily("dispatch1310_open_calls", "Open calls by current level", labels=["level"])
    for level, count in by_level.items():
        levels.add_metric([level], count)
    return [
        levels,
        GaugeMetricFamily("dispatch1310_held_calls", "Open calls held for the desk (flood)", value=held),
        GaugeMetricFamily(
            "dispatch1310_unreached_calls",
            "Open calls with nobody reached: nobody accepted, and nobody paged or every page failed",
            value=nobody,
        ),
    ]


async def consumer_lags(
    nc: Client | None, streams: Sequence[str] = (subjects.CALLS_STREAM,)
) -> list[ConsumerLag]:
    """Every durable consumer's lag (one LIST request per stream); none if NATS does not answer."""
    if nc is None or not nc.is_connected:
        return []
    js = nc.jetstream()
    lags = []
    for stream in streams:
        try:
            infos = await asyncio.wait_for(js.consumers_info(stream), CONSUMER_INFO_TIMEOUT_S)
        except Exception as exc:  # NATS away: /metrics still answers, without these figures
            log.warning("consumer_info_failed", stream=stream, error=repr(exc))
            continue
        for info in infos:
            if info.config.durable_name:  # ordered consumers (followers) are ephemeral
                lags.append(
                    ConsumerLag(
                        stream, info.config.durable_name, info.num_pending or 0, info.num_ack_pending or 0
                    )
                )
    return lags


def lag_families(lags: Iterable[ConsumerLag]) -> list[Metric]:
    pending = GaugeMetricFamily(
        "dispatch1310_consumer_pending_messages",
        "Messages stored but not yet delivered to a durable consumer (its lag)",
        labels=["stream", "durable"],
    )
    unacked = GaugeMetricFamily(
        "dispatch1310_consumer_ack_pending_messages",
        "Messages delivered to a durable consumer and not yet acknowledged",
        labels=["stream", "durable"],
    )
    for lag in sorted(lags, key=lambda lag: (lag.stream, lag.durable)):
        pending.add_metric([lag.stream, lag.durable], lag.pending)
        unacked.add_metric([lag.stream, lag.durable], lag.ack_pending)
    return [pending, unacked]


def _latest(families: Iterable[Metric], name: str) -> dict[str, float]:
    """The newest timestamp per ``service`` label of the gauge ``name``."""
    latest: dict[str, float] = {}
    for family in families:
        if family.name != name:
            continue
        for sample in family.samples:
            service = sample.labels.get("service", "")
            latest[service] = max(latest.get(service, 0.0), sample.value)
    return latest


def age_families(recorded: Sequence[Metric], now: float, services: Iterable[str]) -> list[Metric]:
    ages = GaugeMetricFamily(
        "dispatch1310_checkpoint_age_seconds",
        "Seconds since a service's checkpoint last covered all it had folded",
        labels=["service"],
    )
    for service, at in sorted(_latest(recorded, metrics.CHECKPOINT_AT_NAME).items()):
        ages.add_metric([service], max(now - at, 0.0))
    up = GaugeMetricFamily(
        "dispatch1310_service_up",
        f"1 if the service's process sent a heartbeat in the last {SERVICE_SILENT_S:g} s",
        labels=["service"],
    )
    beats = _latest(recorded, metrics.HEARTBEAT_AT_NAME)
    for service in services:
        up.add_metric([service], 1.0 if now - beats.get(service, 0.0) <= SERVICE_SILENT_S else 0.0)
    return [ages, up]


class _Scrape(Collector):
    """One scrape: the recorded figures and those read now."""

    def __init__(
        self, recorded: Collector, now_figures: list[Metric], now: float, services: Iterable[str]
    ) -> None:
        self.recorded = recorded
        self.now_figures = now_figures
        self.now = now
        self.services = tuple(services)

    def collect(self) -> Iterator[Metric]:
        recorded = list(self.recorded.collect())
        yield from recorded
        yield from self.now_figures
        yield from age_families(recorded, self.now, self.services)


def recorded_figures() -> Collector:
    path = os.environ.get(metrics.MULTIPROC_ENV)
    return MultiProcessCollector(None, path) if path else REGISTRY


def render(now_figures: list[Metric], now: float, services: Iterable[str]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(recorded_figures(), now_figures, now, services))
    return generate_latest(registry)

"""The figures /metrics reads at scrape time: the board's calls, consumer lag, ages."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import Metric

from events.models import CallHeld, EscalationRaised
from services.domain.aggregate import CallState, evolve
from services.intake.metrics_page import ConsumerLag, age_families, board_families, lag_families
from services.runtime import metrics
from tests.factories import T0, raised
from tests.operator_metrics import samples, value
from tests.unit.test_reach_view import Call


def page(families: list[Metric]) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self) -> list[Metric]:
            return families

    registry.register(Fixed())  # type: ignore[arg-type]
    return samples(generate_latest(registry).decode())


def test_open_calls_by_level_held_and_unreached() -> None:
    nobody_paged = Call().state  # building level, nobody paged yet
    on_its_way = Call().page("g1").state
    all_failed = Call().page("g1").sent("g1", "sms", "provider 500").state
    escalated = evolve(
        Call().state,
        EscalationRaised(
            event_id="e", call_id="c1", at=T0, from_level="building", to_level="district", reason="exhausted"
        ),
    )
    held = evolve(CallState("h1"), raised("h1"))
    held = evolve(held, CallHeld(event_id="h", call_id="h1", at=T0, reason="flood"))
    figures = page(board_families([nobody_paged, on_its_way, all_failed, escalated, held]))
    assert value(figures, "dispatch1310_open_calls", level="building") == 4
    assert value(figures, "dispatch1310_open_calls", level="district") == 1
    assert value(figures, "dispatch1310_open_calls", level="professional") == 0  # shown at 0
    assert value(figures, "dispatch1310_held_calls") == 1
    # nobody paged, every page failed, escalated with nobody paged yet; not the held one
    assert value(figures, "dispatch1310_unreached_calls") == 3


def test_consumer_lag_per_durable() -> None:
    figures = page(
        lag_families([ConsumerLag("CALLS", "notifier", 7, 2), ConsumerLag("CALLS", "dispatcher", 0, 0)])
    )
    assert value(figures, "dispatch1310_consumer_pending_messages", durable="notifier") == 7
    assert value(figures, "dispatch1310_consumer_ack_pending_messages", durable="notifier") == 2
    assert value(figures, "dispatch1310_consumer_pending_messages", durable="dispatcher") == 0


def test_checkpoint_age_and_service_up_from_the_timestamps_services_record() -> None:
    registry = CollectorRegistry()
    beats = Gauge(metrics.HEARTBEAT_AT_NAME, "", ["service"], registry=registry)
    checkpoints = Gauge(metrics.CHECKPOINT_AT_NAME, "", ["service"], registry=registry)
    now = 1_000_000.0
    beats.labels(service="dispatcher").set(now - 2)
    beats.labels(service="deadlines").set(now - 60)  # silent for a minute: down
    checkpoints.labels(service="audit").set(now - 42)
    figures = page(age_families(list(registry.collect()), now, ["dispatcher", "deadlines", "notifier"]))
    assert value(figures, "dispatch1310_checkpoint_age_seconds", service="audit") == 42
    up = {labels["service"]: v for labels, v in figures["dispatch1310_service_up"]}
    assert up == {"dispatcher": 1.0, "deadlines": 0.0, "notifier": 0.0}  # notifier: never beat

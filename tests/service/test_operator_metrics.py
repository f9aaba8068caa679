"""/metrics as an on-call operator's Prometheus sees it, and the alert rules and dashboard we
ship against it: every metric they name is exported by a running system."""

from __future__ import annotations

from services.adapters.streams import connect
from services.audit.app import AuditService
from services.deadlines.app import build as build_deadlines
from services.domain.clock import SystemClock
from services.notifier.app import build as build_notifier
from services.notifier.channels import LoggingSms
from tests.operator_metrics import alert_rules, dashboard_exprs, metric_names, samples, value
from tests.service.conftest import System
from tests.support import running, wait_for


async def scrape(system: System) -> str:
    response = await system.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_every_metric_the_alerts_and_dashboard_name_is_exported(system: System) -> None:
    named = metric_names([rule["expr"] for rule in alert_rules()] + dashboard_exprs())
    before = samples(await scrape(system))
    audit = AuditService(await connect(system.settings.nats_url or "", "audit"), SystemClock(), 0.2)
    async with (
        running(await build_deadlines(system.settings)),
        running(await build_notifier(system.settings, sms=LoggingSms())),
        running(audit),
    ):
        call_id = (await system.raise_call("b12"))["call_id"]
        await system.log.wait_type(
            call_id, "DeadlineMissed", count=2, timeout=15
        )  # reach and onsite: nobody answers
        await system.log.wait_type(call_id, "NotificationSent", timeout=15)

        async def complete() -> dict | None:
            page = samples(await scrape(system))
            missing = named - page.keys()
            return (
                page
                if not missing and value(page, "dispatch1310_checkpoint_age_seconds", service="audit") < 5
                else None
            )

        page = await wait_for(complete, timeout=20, what="every metric named in deploy/ with samples")

    assert value(page, "dispatch1310_open_calls") >= 1  # escalated past building by now
    assert {labels["level"] for labels, _ in page["dispatch1310_open_calls"]} == {
        "building",
        "district",
        "community",
        "professional",
    }
    missed = "dispatch1310_deadline_lateness_seconds_count"
    assert value(page, missed, stage="reach") > value(before, missed, stage="reach")
    assert value(page, missed, stage="onsite") > value(before, missed, stage="onsite")
    sent = value(page, "dispatch1310_page_deliveries_total", channel="sms", outcome="sent")
    assert sent > value(before, "dispatch1310_page_deliveries_total", channel="sms", outcome="sent")
    durables = {labels["durable"] for labels, _ in page["dispatch1310_consumer_pending_messages"]}
    assert {"dispatcher", "notifier"} <= durables
    assert {labels["consumer"] for labels, _ in page["dispatch1310_dead_letters_total"]} >= {"dispatcher"}
    assert 0 <= value(page, "dispatch1310_checkpoint_age_seconds", service="audit") < 5
    # Nothing here runs as `service NAME`, so no process sent a heartbeat: every service is down.
    assert {labels["service"]: v for labels, v in page["dispatch1310_service_up"]} == {
        "intake": 0.0,
        "dispatcher": 0.0,
        "deadlines": 0.0,
        "audit": 0.0,
        "notifier": 0.0,
    }
    assert (
        value(page, "dispatch1310_http_requests_total", route="/api/calls", method="POST", status="201") >= 1
    )


async def test_a_poison_message_counts_as_a_dead_letter(system: System) -> None:
    name = "dispatch1310_dead_letters_total"
    before = value(samples(await scrape(system)), name, consumer="dispatcher")
    await system.nc.jetstream().publish("calls.poison9.CallRaised", b"{not json")

    async def counted() -> float | None:
        now = value(samples(await scrape(system)), name, consumer="dispatcher")
        return now if now > before else None

    assert await wait_for(counted, timeout=15, what="the dead letter counted") == before + 1


async def test_a_call_whose_every_page_fails_is_unreached_and_its_failures_counted(system: System) -> None:
    """The SMS gateway refuses everything and nobody has push set up: the page went nowhere.
    /metrics counts that call as unreached, as the board shows it, and the failed SMS."""
    from services.notifier.channels import Unreachable

    failed = "dispatch1310_page_deliveries_total"
    before = value(samples(await scrape(system)), failed, channel="sms", outcome="failed")
    async with running(await build_notifier(system.settings, sms=Unreachable("provider 500"))):
        call_id = (await system.raise_call("b12"))["call_id"]
        await system.log.wait_type(call_id, "NotificationFailed", timeout=15)

        async def unreached() -> dict | None:
            page = samples(await scrape(system))
            return page if value(page, "dispatch1310_unreached_calls") == 1 else None

        page = await wait_for(unreached, timeout=15, what="the call counted as unreached")
    assert value(page, failed, channel="sms", outcome="failed") > before
    board = await system.http.get("/api/board", headers={"Authorization": "Bearer demo-supervisor"})
    assert [row["call_id"] for row in board.json()["calls"] if row["unreached"]] == [call_id]

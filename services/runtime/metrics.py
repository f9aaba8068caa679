"""What each service records for the operator: one catalogue of Prometheus metrics.

Every service is its own process, so the figures are kept with ``prometheus-client``'s
multi-process mode: ``dispatch1310 up`` sets ``PROMETHEUS_MULTIPROC_DIR`` (under the data
dir) for every process it starts, each process writes its figures there (memory-mapped
files), and the intake's ``/metrics`` adds them up (services/intake/metrics_page.py). Without
that variable (tests, a service run by hand) the figures stay in this process.

Record here only what one process does (a deadline fired late, a page sent, a message
dead-lettered, a checkpoint written, "I am alive"); figures about the whole system (open
calls, consumer lag) are read at scrape time by the intake from what it already follows.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from prometheus_client import Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HEARTBEAT_EVERY_S = 5.0


def _process_identifier() -> str:
    """Host and pid, not the pid alone: containers sharing one metrics volume (compose) each
    run their service as pid 1. No ``_``: the file name's parts are split on it."""
    return f"{socket.gethostname().replace('_', '-')}-{os.getpid()}"


if os.environ.get(MULTIPROC_ENV):  # before any metric below is made
    values.ValueClass = values.MultiProcessValue(_process_identifier)


HTTP_REQUESTS = Counter(
    "dispatch1310_http_requests", "HTTP requests by route and status", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram("dispatch1310_http_request_seconds", "HTTP request latency by route", ["route"])

DEADLINE_LATENESS = Histogram(
    "dispatch1310_deadline_lateness_seconds",
    "How long after its due time a missed deadline was recorded (DeadlineMissed at - due_at), by stage",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
PAGE_DELIVERIES = Counter(
    "dispatch1310_page_deliveries",
    "Pages sent (NotificationSent) or failed (NotificationFailed) by channel",
    ["channel", "outcome"],
)
DEAD_LETTERS = Counter(
    "dispatch1310_dead_letters", "Messages given up and published to deadletter.<consumer>", ["consumer"]
)
CHECKPOINT_AT_NAME = "dispatch1310_checkpoint_timestamp_seconds"
HEARTBEAT_AT_NAME = "dispatch1310_service_heartbeat_timestamp_seconds"
CHECKPOINT_AT = Gauge(
    CHECKPOINT_AT_NAME,
    "Unix time a service's checkpoint last covered all it had folded",
    ["service"],
    multiprocess_mode="max",
)
HEARTBEAT_AT = Gauge(
    HEARTBEAT_AT_NAME,
    "Unix time of a service process's last heartbeat",
    ["service"],
    multiprocess_mode="max",
)

STAGES = ("contact", "reach", "onsite")


def deadline_missed(stage: str, late_s: float) -> None:
    DEADLINE_LATENESS.labels(stage=stage).observe(max(late_s, 0.0))


def page_recorded(channel: str, sent: bool) -> None:
    PAGE_DELIVERIES.labels(channel=channel, outcome="sent" if sent else "failed").inc()


def dead_lettered(consumer: str, count: int = 1) -> None:
    """``count`` 0 makes the series exist (at 0) before the first dead letter."""
    DEAD_LETTERS.labels(consumer=consumer).inc(count)


def checkpoint_saved(service: str, at: float | None = None) -> None:
    """Call when ``service`` wrote its checkpoint, or found it still covers everything it has
    folded (nothing new since): ``/metrics`` shows ``dispatch1310_checkpoint_age_seconds``."""
    CHECKPOINT_AT.labels(service=service).set(time.time() if at is None else at)


def start_heartbeat(service: str, every_s: float = HEARTBEAT_EVERY_S) -> threading.Thread:
    """Mark ``service`` alive every ``every_s`` from a daemon thread (it dies with the process):
    ``/metrics`` shows ``dispatch1310_service_up``. A blocked event loop still beats; its
    consumer's lag and the unreached calls show that."""

    def beat() -> None:
        while True:
            HEARTBEAT_AT.labels(service=service).set(time.time())
            time.sleep(every_s)

    thread = threading.Thread(target=beat, name="metrics-heartbeat", daemon=True)
    thread.start()
    return thread

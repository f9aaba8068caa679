"""The deploy/ files an operator loads: alert rules that parse and say what to do, and a
compose file whose services share one metrics directory with the intake."""

from __future__ import annotations

import re

import yaml

from tests.operator_metrics import ROOT, alert_rules, dashboard_exprs, metric_names

DURATION = re.compile(r"^\d+[smhd]$")


def test_alert_rules_parse_and_say_what_to_do() -> None:
    rules = alert_rules()
    assert len(rules) >= 6
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names), "alert names are unique"
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
        assert DURATION.match(str(rule["for"])), rule["for"]
        assert rule["labels"]["severity"] in ("page", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
    watched = metric_names([rule["expr"] for rule in rules])
    # What the issue asks an operator to be alerted on.
    for name in (
        "dispatch1310_unreached_calls",
        "dispatch1310_deadline_lateness_seconds_count",
        "dispatch1310_consumer_pending_messages",
        "dispatch1310_dead_letters_total",
        "dispatch1310_checkpoint_age_seconds",
        "dispatch1310_service_up",
    ):
        assert name in watched, name


def test_the_dashboard_shows_what_the_alerts_watch() -> None:
    shown = metric_names(dashboard_exprs())
    watched = metric_names([rule["expr"] for rule in alert_rules()])
    assert watched <= shown, watched - shown


def test_compose_services_share_one_metrics_dir_with_the_intake() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("intake", "dispatcher", "deadlines", "notifier", "audit"):
        service = compose["services"][name]
        path = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert any(volume.endswith(f":{path}") for volume in service["volumes"]), name

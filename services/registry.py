"""Every service of dispatch1310 and where its composition root lives."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from services.runtime.settings import Settings

# name -> module whose ``run(settings, on_started)`` runs the service until stopped
# (``on_started()`` once it serves: consuming, or the intake accepting connections).
SERVICES: dict[str, str] = {
    "intake": "services.intake.app",
    "dispatcher": "services.dispatcher.app",
    "deadlines": "services.deadlines.app",
    "audit": "services.audit.app",
    "notifier": "services.notifier.app",
}


def runner(name: str) -> Callable[[Settings, Callable[[], None] | None], None]:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; one of: {', '.join(SERVICES)}")
    module = importlib.import_module(SERVICES[name])
    return module.run

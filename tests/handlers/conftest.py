"""Handler tests log only warnings (an info line per page, captured, slows them down)."""

from tests.model.conftest import quiet_logs

__all__ = ["quiet_logs"]

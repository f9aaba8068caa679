"""Building blocks every service shares: clock, ids, settings, logging, NATS, event store."""

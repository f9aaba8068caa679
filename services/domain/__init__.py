"""The domain: calls, people and rules as pure code (no NATS, HTTP or clock reads)."""

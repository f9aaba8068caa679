"""simulator: scripted residents and responders driving a running system through its public API."""

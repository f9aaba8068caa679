"""Adapters: NATS JetStream, KV and key files behind the domain's ports."""

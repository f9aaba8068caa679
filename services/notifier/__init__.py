"""notifier: push channels for dispatches (webhook, SMS) beside the built-in SSE fan-out."""

"""intake: the HTTP API and pages; appends what residents and responders do."""

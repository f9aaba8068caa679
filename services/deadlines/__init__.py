"""deadlines: the 1310 clock. Stage deadlines and dispatch ack timeouts, fired exactly once."""

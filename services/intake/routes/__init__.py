"""HTTP routers of the intake service, one module per area."""

"""audit: projections of the CALLS stream: compliance facts, responder statistics, points."""

"""The REST API: FastAPI app, routes, and the HTTP edge of the core (errors, limits, framing)."""

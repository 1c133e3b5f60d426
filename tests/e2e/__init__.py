"""A real browser against the running app."""

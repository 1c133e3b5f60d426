"""API routers; `crm.api.app.create_app` includes them (other features add their own)."""

"""The FastAPI application: `create_app()` wires settings, routers, auth and error handling.

The mock vendor (`crm.mock_vendor`) is mounted only when no real vendor (CRM_VENDOR_URL) is
configured. Further routers can be passed as `extra_routers`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi

from crm.api.body_limit import BodySizeLimit
from crm.api.body_timeout import BodyTimeout
from crm.api.errors import install_error_handlers
from crm.api.framing import OneBodyLength
from crm.api.rate_limit import TokenBuckets
from crm.api.routes import campaigns, customers, health, inbound, ingest, receipts, unsubscribe
from crm.api.schemas import input_schemas
from crm.config import Settings, load_settings
from crm.ingest.migrations import normalise_stored_customers
from crm.mock_vendor.routes import vendor_router

DESCRIPTION = """Push customers and orders into Mini CRM.

Authenticate with `Authorization: Bearer <api key>` (create one with
`python -m crm apikey create NAME`). A batch is validated whole: one bad item means 422 listing
each bad item's index, field and reason, and nothing is written. Writes are upserts by external
id, so retrying a request is safe. Every error body is
`{"error": {"code", "message", "details": [{"index", "field", "reason"}]}}`.
"""


def create_app(settings: Settings | None = None, extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = await run_in_threadpool(app.state.db)  # start (or find) the database before serving
        # Once per workspace (then one lookup): stored values in the forms every write now stores.
        await run_in_threadpool(normalise_stored_customers, db, settings.phone_region)
        yield
        if app.state.redis is not None:
            app.state.redis.close()

    app = FastAPI(title="Mini CRM API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    _attach_state(app, settings)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeout)
    app.add_middleware(OneBodyLength)  # added last, runs first: an ambiguous request is never read
    routers = [
        ingest.router,
        customers.router,
        campaigns.router,
        health.router,
        receipts.receipts_router(settings),
        unsubscribe.router,
        inbound.router,
    ]
    if not settings.vendor_url:  # a real vendor is configured: the mock one is not served
        routers.append(vendor_router(settings))
    for router in (*routers, *extra_routers):
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's way to extend its schema
    return app


def _attach_state(app: FastAPI, settings: Settings) -> None:
    from crm.store import get_db

    app.state.settings = settings
    app.state.db = lambda: get_db(settings)
    app.state.rate_limiter = TokenBuckets(settings.api_rate_per_second, settings.api_rate_burst)
    app.state.key_guesses = TokenBuckets(settings.api_key_guesses_per_minute / 60, settings.api_key_guesses_per_minute)
    app.state.redis = app.state.producer = None
    if settings.redis_url:
        from crm.ingest.redis_queue import StreamKeys, redis_client
        from crm.ingest.streams import Producer

        app.state.redis = redis_client(settings)
        app.state.producer = Producer(app.state.redis, StreamKeys(settings.stream_prefix))


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the input record schemas the request bodies refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(input_schemas())
        app.openapi_schema = schema
    return app.openapi_schema

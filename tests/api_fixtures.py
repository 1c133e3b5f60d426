"""Fixtures that run the real API (uvicorn on a free port) on the test's own database.

Import them into a test module: `from tests.api_fixtures import api, api_key, client  # noqa`.
"""

from __future__ import annotations

import dataclasses
import threading

import httpx
import pytest
import uvicorn

from crm.api.app import create_app
from crm.auth.api_keys import create_key
from crm.config import Settings, load_settings
from tests.support import free_port, wait_for  # noqa: F401 (re-exported to tests)


class LiveAPI:
    """The app served by uvicorn in a thread, until stopped."""

    def __init__(self, settings: Settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveAPI:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), what="the API to start")
        assert self.server.started, "the API did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def start_api(crm_env):
    """start_api(**setting_overrides) -> a running LiveAPI on the test's database."""
    servers: list[LiveAPI] = []

    def start(**overrides) -> LiveAPI:
        settings = dataclasses.replace(load_settings(), **overrides)
        servers.append(LiveAPI(settings).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api(start_api) -> LiveAPI:
    return start_api(api_rate_per_second=10_000, api_rate_burst=10_000)


@pytest.fixture
def api_key(db) -> str:
    return create_key(db, "tests")[1]


@pytest.fixture
def client(api, api_key):
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120) as c:
        yield c

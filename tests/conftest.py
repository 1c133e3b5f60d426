"""Shared fixtures: a real embedded database server for the session, one database per test."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
import uuid

import bcrypt
import pytest

from crm import store
from crm.analytics import analytic_copy
from crm.cli import main
from crm.store.embedded import EmbeddedServer
from tests.e2e.signin_support import CHROMIUM
from tests.support import ROOT

# Fixture modules shared by many test files (a fixture imported into a test module would shadow
# its own arguments).
pytest_plugins = ("tests.api_fixtures", "tests.signin_gate")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes():
    """Passwords hashed in the test process use bcrypt's lowest cost. A hash carries its cost, so
    checking is the same code either way, and the real cost (12) spends a quarter second a hash:
    a fifth of the fast suite. Servers started as processes keep the real cost (test_auth_serve)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bcrypt, "gensalt", functools.partial(bcrypt.gensalt, 4))
        yield


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    """One embedded server for the whole run, in its own temp data dir."""
    data_dir = tmp_path_factory.mktemp("crm-data")
    server = EmbeddedServer(data_dir)
    info = server.ensure()
    yield server, info
    server.stop()


@pytest.fixture
def crm_env(mongo_server, monkeypatch):
    """Environment of a test: the shared server's data dir and a database of its own."""
    server, _ = mongo_server
    env = {"CRM_DATA_DIR": str(server.data_dir), "CRM_DB_NAME": f"t_{uuid.uuid4().hex[:12]}"}
    for key in ("MONGODB_URI", "REDIS_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    store.reset()
    yield env
    store.reset()


@pytest.fixture
def db(crm_env):
    """The test's own database on the real embedded server."""
    return store.get_db()


@pytest.fixture
def fresh_copies():
    """No analytic copy left open by an earlier test (each copy belongs to one database)."""
    analytic_copy.close_all()
    yield
    analytic_copy.close_all()


@pytest.fixture
def run_cli(crm_env):
    """Runs `python -m crm ...` in a child process on the test's database."""

    def run(*args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, **crm_env}
        result = subprocess.run(
            [sys.executable, "-m", "crm", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"crm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture
def cli(crm_env):
    """Runs a `python -m crm ...` command in this process (its `main()`, output captured), for
    commands whose work is the core's: a child process would prove nothing there but cost a
    second or two of start-up. Commands that start servers or threads (serve, api, worker,
    campaign, bench) and tests of the process itself use `run_cli`."""

    def run(*args: str, check: bool = False) -> subprocess.CompletedProcess:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
        result = subprocess.CompletedProcess(["python", "-m", "crm", *args], code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"crm {' '.join(args)} failed ({code}):\n{result.stderr}")
        return result

    return run


E2E_DIR = ROOT / "tests" / "e2e"


def pytest_collection_modifyitems(items):
    """Marks every test of tests/e2e (a real browser) `e2e`, skipped where Chromium is missing (a
    developer's machine; CI always has it), and every test that runs the CLI in a child process
    `slow`, so `-m "not e2e and not slow"` is the fast in-process run."""
    no_browser = pytest.mark.skip(reason=f"needs Debian's Chromium at {CHROMIUM} (scripts/test.sh installs it)")
    for item in items:
        if "run_cli" in getattr(item, "fixturenames", ()):  # a child process per command: seconds each
            item.add_marker(pytest.mark.slow)
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(no_browser)

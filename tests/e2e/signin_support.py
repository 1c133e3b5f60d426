"""Helpers for the browser tests: the app on a free port with its own secrets, Chromium, sign-in,
reading a downloaded CSV."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import ROOT, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; scripts/test.sh installs it
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-crash-reporter",
    "--disable-breakpad",
]


@contextmanager
def streamlit_app(env: dict[str, str], secrets_toml: str, port: int | None = None):
    """`streamlit run app.py` on a free port, reading only the given secrets; yields (url, log path)."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="crm-e2e-"))
    secrets_file = workdir / "secrets.toml"
    secrets_file.write_text(secrets_toml)
    log_path = workdir / "streamlit.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                # others may edit sources during a run: no reloads mid-test
                "--server.fileWatcherType",
                "none",
                "--secrets.files",
                str(secrets_file),
            ],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://localhost:{port}"
    try:

        def healthy():
            if proc.poll() is not None:
                raise AssertionError(f"streamlit exited early:\n{log_path.read_text()}")
            try:
                return httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok"
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "streamlit /_stcore/health")
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def chromium_page(timeout_ms: float = 30_000, viewport: dict | None = None):
    """A page of headless Chromium in a profile of its own, removed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    try:
        with sync_playwright() as p:
            options = {"viewport": viewport} if viewport else {}
            context = p.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **options
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(timeout_ms)
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def settle(page, quiet_seconds: float = 0.5, timeout: float = 30) -> None:
    """Wait until the app has run no script for `quiet_seconds`.

    Components (the sign-in cookie's) rerun the script right after they load; a click that lands
    mid-rerun can be lost, so tests let the page settle before they type or click.
    """
    app = page.locator("[data-testid=stApp]")
    quiet_since = [None]

    def quiet():
        if app.get_attribute("data-test-script-state") != "notRunning":
            quiet_since[0] = None
            return False
        quiet_since[0] = quiet_since[0] or time.monotonic()
        return time.monotonic() - quiet_since[0] >= quiet_seconds

    wait_for(quiet, timeout, "the app to stop running scripts", every=0.1)


ONE_TIME_PASSWORD = re.compile(r"username: (\S+)\s+one-time password: (\S+)")


def submit_sign_in(page, username: str, password: str) -> None:
    """Fill and send the local-account sign-in form."""
    settle(page)
    form = page.locator("[data-testid=stForm]")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()


def open_signed_in(page, url: str, username: str, password: str, wait_seconds: float) -> None:
    """A wide window on the app, signed in with a local account: where a page test starts."""
    page.set_viewport_size({"width": 1440, "height": 1100})
    page.set_default_timeout(wait_seconds * 1000)
    page.goto(url)
    submit_sign_in(page, username, password)
    page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").wait_for()


def choose_new_password(page, one_time: str, password: str) -> None:
    page.get_by_text("Choose a new password").first.wait_for()
    settle(page)
    page.get_by_label("One-time password", exact=True).fill(one_time)
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Repeat new password").fill(password)
    page.get_by_role("button", name="Save password").click()


def sign_in_as_first_admin(page, console_log: Path, new_password: str = "a password of my own") -> str:
    """On a fresh app: sign in with the one-time password printed on the console, replace it."""
    page.get_by_role("button", name="Sign in").wait_for()
    printed = wait_for(
        lambda: ONE_TIME_PASSWORD.search(console_log.read_text()),
        60,
        "the first admin's one-time password on the console",
    )
    submit_sign_in(page, printed.group(1), printed.group(2))
    choose_new_password(page, printed.group(2), new_password)
    page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").wait_for()
    return printed.group(1)


def downloaded_csv(page, button_name: str, path: Path, timeout: float) -> list[dict]:
    """Click a download button and read the file the browser saved, as CSV rows."""
    with page.expect_download(timeout=timeout * 1000) as download:
        page.get_by_role("button", name=button_name).click()
    download.value.save_as(path)
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))

"""The README's start path in a real browser: demo data, `python -m crm serve`, sign in as the
first admin with the one-time password printed on the console, then the Home page.

Set CRM_SCREENSHOT_DIR to also save the Home screenshot there (how docs/screenshots/home.png
is made).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.signin_support import chromium_page, sign_in_as_first_admin
from tests.support import ROOT, free_port, stop_gently

WAIT_MS = 90_000


def wait_for_line(log: Path, text: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        if process.poll() is not None:
            raise AssertionError(f"serve exited early ({process.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"serve did not print {text!r}:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.fixture
def served_app(tmp_path):
    """A data dir with the demo loaded, served by `python -m crm serve`; yields (UI URL, console
    log, orders: the demo's 20,000 and those its past campaign brought)."""
    env = {**os.environ, "CRM_DATA_DIR": str(tmp_path / "data"), "CRM_DB_NAME": "crm"}
    for key in ("MONGODB_URI", "REDIS_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(key, None)
    demo = subprocess.run(
        [sys.executable, "-m", "crm", "demo", "--customers", "2000", "--orders", "20000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr
    orders = 20_000 + json.loads(demo.stdout.strip().splitlines()[-1])["campaign"]["orders"]
    ui_port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "crm", "serve", "--ui-port", str(ui_port), "--api-port", str(free_port())],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_line(log, "ready", serve, 180)
        yield f"http://127.0.0.1:{ui_port}/", log, orders
    finally:
        stop_gently(serve)


@pytest.fixture
def browser_page():
    # A loaded machine can be slow to first paint.
    with chromium_page(timeout_ms=WAIT_MS, viewport={"width": 1440, "height": 960}) as page:
        yield page


def test_home_shows_the_demo_numbers_after_the_readme_start(served_app, browser_page, tmp_path):
    from playwright.sync_api import expect

    url, console, orders_loaded = served_app
    page = browser_page
    page.goto(url)
    sign_in_as_first_admin(page, console)  # with the one-time password serve printed
    customers = page.get_by_test_id("stMetric").filter(has_text="Customers")
    expect(customers.get_by_test_id("stMetricValue")).to_have_text("2,000", timeout=WAIT_MS)
    orders = page.get_by_test_id("stMetric").filter(has=page.get_by_text("Orders", exact=True))
    expect(orders.get_by_test_id("stMetricValue")).to_have_text(f"{orders_loaded:,}", timeout=WAIT_MS)
    expect(page.get_by_test_id("stMetric").filter(has_text="Revenue")).to_contain_text("₹", timeout=WAIT_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=WAIT_MS)
    expect(page.get_by_text("Revenue by month")).to_be_visible()

    page.mouse.move(1, 1)  # no hover toolbar over a chart in the picture
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("CRM_SCREENSHOT_DIR"):
        target = Path(os.environ["CRM_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "home.png")

    page.get_by_role("link", name="Data").click()
    expect(page.get_by_role("tab", name="Import")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("tab", name="Customers").click()
    expect(page.get_by_text("2,000 customers found")).to_be_visible(timeout=WAIT_MS)

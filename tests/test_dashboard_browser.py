"""The dashboard page in a real browser: headless Chromium driven by Playwright, on the test's server."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dashboard_seed import FakeAlerts, FakeHealth, seed
from _requires import require

from monitoring_layer._http import Router, start_server
from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.tracing import TracingCollector

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
TOKEN = "browser-token"


@pytest.fixture
def browser():
    require("playwright", "pip install playwright (the test extra)")
    require(CHROMIUM, "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def dashboard(pipeline):
    metrics = MetricsCollector(pipeline=pipeline)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    board = ObservabilityDashboard(metrics, logs, traces, health_manager=FakeHealth(), alert_manager=FakeAlerts())
    board.recorded = seed(metrics, logs, traces)  # type: ignore[attr-defined]
    yield board
    metrics.close()


def _server(dashboard, token=None):
    router = Router()
    mount_dashboard(router, dashboard, token=token, environ={})
    return start_server(router, "127.0.0.1", 0)


def expect(locator):  # Playwright's assertions poll without evaluating strings (the page's CSP forbids eval)
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _open(browser, url, dialogs, **context):
    page = browser.new_context(**context).new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    return page


def test_the_page_shows_the_seeded_data_and_keeps_payloads_inert(browser, dashboard, tmp_path: Path):
    dialogs: list[str] = []
    with _server(dashboard) as server:
        page = _open(browser, server.url + "/", dialogs, viewport={"width": 1366, "height": 900})
        page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
        title = page.title()
        recorded = dashboard.recorded  # type: ignore[attr-defined]

        # summary cards show the seeded counts
        assert page.text_content("[data-testid=card-traces] .value") == str(recorded["traces"])
        assert page.text_content("[data-testid=card-error-traces] .value") == str(recorded["error_traces"])
        assert page.text_content("[data-testid=card-logs] .value") == str(recorded["logs"])
        assert "1 critical" in page.text_content("[data-testid=card-alerts] .value")

        # charts drew points
        page.wait_for_selector("#metric-chart svg circle")
        assert page.locator("#metric-chart svg circle").count() >= 2
        assert page.locator("#timeline-chart svg circle").count() >= 1

        # a trace's waterfall opens
        page.locator("#traces tr.clickable").first.click()
        page.wait_for_selector("[data-testid=waterfall-span]")
        assert page.locator("[data-testid=waterfall-span]").count() >= 1
        assert page.is_visible("#waterfall")

        # the log search filters
        assert page.locator("[data-testid=log-line]").count() == recorded["logs"]
        page.fill("#log-query", "deadlock")
        page.click("#log-form button[type=submit]")
        expect(page.locator("[data-testid=log-line]")).to_have_count(1)
        assert "deadlock detected" in page.text_content("#logs")
        page.fill("#log-query", "")
        page.select_option("#log-level", "ERROR")
        expect(page.locator("[data-testid=log-line]")).to_have_count(3)

        # XSS payloads (a log message, a span name, an alert message, a health message) stay text
        page.select_option("#log-level", "")
        page.fill("#log-query", "script")
        page.click("#log-form button[type=submit]")
        expect(page.locator("[data-testid=log-line]")).to_have_count(1)
        assert "<script>document.title='pwned'" in page.text_content("#logs")
        page.fill("#log-query", "onerror")
        page.click("#log-form button[type=submit]")
        # the count is 1 before and after the refresh: wait for the new line's text, not the count
        expect(page.locator("#logs")).to_contain_text("<img src=x onerror=")
        assert "<img src=x onerror=" in page.text_content("#alerts")
        web_trace = page.locator("#traces tr", has_text="web").first
        web_trace.click()
        expect(page.locator("#waterfall")).to_contain_text("<img src=x")
        assert page.evaluate("window.__xss") is None
        assert page.locator("img").count() == 0 and page.locator("body script").count() == 0
        assert page.title() == title == "monitoring-layer dashboard"
        assert dialogs == []

        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        phone = _open(browser, server.url + "/", dialogs, viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.wait_for_selector("body[data-loaded='1']", timeout=15_000)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
        phone.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_the_page_asks_for_the_token_and_then_can_act(browser, dashboard, tmp_path: Path):
    dialogs: list[str] = []
    with _server(dashboard, token=TOKEN) as server:
        page = _open(browser, server.url + "/", dialogs)
        page.wait_for_selector("#auth:not(.hidden)")
        page.fill("#token", TOKEN)
        page.click("#auth-form button")
        page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
        assert page.is_hidden("#auth")
        ack = page.locator("[data-testid=alert]", has_text="High CPU").locator("button", has_text="acknowledge")
        assert ack.is_enabled()
        ack.click()
        expect(page.locator("[data-testid=alert]", has_text="High CPU")).to_contain_text("acknowledged")
        page.screenshot(path=str(tmp_path / "dashboard-token.png"))
    assert ("ack", "a1", "dashboard") in dashboard.alert_manager.actions
    assert dialogs == []


def test_without_a_token_the_action_buttons_are_disabled(browser, dashboard):
    with _server(dashboard) as server:
        page = _open(browser, server.url + "/", [])
        page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
        buttons = page.locator("[data-testid=alert] button")
        assert buttons.count() >= 2 and all(not buttons.nth(i).is_enabled() for i in range(buttons.count()))

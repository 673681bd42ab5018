"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

The app is served by uvicorn on a free local port, in the test's event loop beside a running
host on SQLite with a workflow in every status. The browser opens the list, filters it, opens a
workflow and terminates another through the page's confirmation; any server error or browser
console error fails the test. Screenshots go to ``$WFE_TEST_ARTIFACTS`` (default: the test's
temporary directory); ``WFE_UI_SCREENSHOTS_TO_DOCS=1`` also copies two of them into ``docs/``.

Chromium comes from ``scripts/services.sh`` (``WFE_TEST_CHROMIUM``, default
``/usr/bin/chromium``); without it the test is skipped, or fails under ``WFE_REQUIRE_SERVICES=1``.
Playwright never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.ui.conftest import definitions, populate
from wfe import WorkflowHost, WorkflowStatus
from wfe.ui import create_app

pytestmark = pytest.mark.slow

#: What Chromium needs on a closed network: no sandbox (root), no GPU, nothing fetched at start.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def chromium_or_skip() -> str:
    path = os.environ.get("WFE_TEST_CHROMIUM") or "/usr/bin/chromium"
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    reason = (f"no Chromium at {path}: run scripts/services.sh (it installs Debian's chromium) "
              "or set WFE_TEST_CHROMIUM")
    if os.environ.get("WFE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WFE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


async def test_dashboard_in_chromium(tmp_path: Path) -> None:
    executable = chromium_or_skip()
    playwright_api = pytest.importorskip("playwright.async_api")
    uvicorn = pytest.importorskip("uvicorn")
    artifacts = Path(os.environ.get("WFE_TEST_ARTIFACTS") or tmp_path) / "ui"
    artifacts.mkdir(parents=True, exist_ok=True)

    defs = definitions()
    async with WorkflowHost(f"sqlite:///{tmp_path / 'ui.db'}") as host:
        ids = await populate(host, defs)
        for n in range(3):  # a fuller list for the screenshot (each with a sub-workflow)
            more = await host.start_workflow("parent", {"n": n}, reference=f"order-{100 + n}")
            await host.wait_for_workflow(more, timeout=10)
        server_errors: list[str] = []
        app = create_app(host, definitions=defs)

        async def watched(scope, receive, send):  # type: ignore[no-untyped-def]
            async def send_status(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start" and message["status"] >= 500:
                    server_errors.append(f"{scope['path']}: {message['status']}")
                await send(message)
            await app(scope, receive, send_status)

        server = uvicorn.Server(uvicorn.Config(watched, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        console_errors: list[str] = []
        try:
            async with playwright_api.async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=executable, headless=True, args=CHROMIUM_ARGS,
                )
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: console_errors.append(str(e)))
                page.set_default_timeout(5000)

                await page.goto(base + "/")
                rows = page.locator("#workflows tbody tr")
                assert await rows.count() == 12
                assert await page.locator('.n[data-status="runnable"]').text_content() == "2"
                assert await page.locator('.n[data-status="complete"]').text_content() == "8"
                # Hostile reference shown as text, not run.
                assert "<script>alert('x')</script>" in (await page.locator("#workflows").inner_text())
                await page.screenshot(path=str(artifacts / "ui-list.png"), full_page=True)

                await page.select_option("select[name=status]", "suspended")
                await page.click(".filters button[type=submit]")
                await page.wait_for_url("**status=suspended**")
                assert await rows.count() == 1
                await page.screenshot(path=str(artifacts / "ui-filtered.png"))

                await page.goto(f"{base}/workflows/{ids['complete']}")
                assert "Inside if" in await page.locator("#steps").inner_text()
                assert await page.locator("#timeline .bar").count() >= 4
                # A complete workflow offers no action: none applies to it.
                assert await page.locator(".actions button:visible").count() == 0
                await page.screenshot(path=str(artifacts / "ui-workflow.png"), full_page=True)

                await page.goto(f"{base}/workflows/{ids['waiting']}")
                confirmations: list[str] = []

                async def accept(dialog):  # type: ignore[no-untyped-def]
                    confirmations.append(dialog.message)
                    await dialog.accept()

                page.on("dialog", accept)
                assert await page.locator("button[data-action=resume]").is_hidden()
                await page.click("button[data-action=terminate]")
                # Not wait_for_function: its string is evaluated, which the page's CSP forbids.
                await playwright_api.expect(page.locator("#workflow-status")).to_have_text("terminated")
                assert confirmations and "Terminate this workflow?" in confirmations[0]
                assert "terminate: done" in await page.locator("#action-result").inner_text()
                assert await page.locator(".actions button:visible").count() == 0
                await page.screenshot(path=str(artifacts / "ui-terminated.png"), full_page=True)

                await page.goto(base + "/definitions")
                await page.screenshot(path=str(artifacts / "ui-definitions.png"), full_page=True)
                await browser.close()
        finally:
            server.should_exit = True
            await serving
        assert (await host.persistence.get_status(ids["waiting"])) is WorkflowStatus.TERMINATED
    assert not server_errors, server_errors
    assert not console_errors, console_errors
    if os.environ.get("WFE_UI_SCREENSHOTS_TO_DOCS") == "1":
        for name in ("ui-list.png", "ui-workflow.png"):
            shutil.copyfile(artifacts / name, DOCS / name)

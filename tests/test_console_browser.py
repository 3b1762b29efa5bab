"""The web console in a real browser: Debian's chromium, driven by Playwright, against a
running gateway on loopback. Each test fails on any console error or uncaught exception
in the page, and leaves screenshots in test-artifacts/console/ (not committed)."""

from __future__ import annotations

import asyncio
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from tests.conftest import Served, ServeFactory
from tests.fakes.openai import OpenAIFake
from tests.spend_helpers import MASTER, TEAM_KEY, openai_entry

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Markup in a model name and a prompt must come out as text (and CSP would block it anyway).
HOSTILE = '<img src=x onerror="window.__xss=1">'
# A closed network: no background requests for updates, sync or safe browsing.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PRICE = "0.04"


def console_config(tmp_path: Path, openai: OpenAIFake) -> str:
    priced = {"output_cost_per_image": float(PRICE)}
    return yaml.safe_dump(
        {
            "model_list": [
                # A model that streams partial previews (OpenAI's, against its fake).
                openai_entry(openai, "gpt-image-1"),
                {
                    "model_name": "placeholder",
                    "litellm_params": {"model": "local/placeholder"},
                    "model_info": priced,
                },
                {
                    "model_name": HOSTILE,
                    "litellm_params": {"model": "local/placeholder"},
                    "model_info": priced,
                },
            ],
            "general_settings": {
                "master_key": MASTER,
                "spend_log_path": str(tmp_path / "spend.sqlite3"),
            },
            "keys": [
                {
                    "alias": "team",
                    "key": TEAM_KEY,
                    "max_budget": "1",
                    "budget_period": "monthly",
                }
            ],
        }
    )


@dataclass
class Console:
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    async def sign_in(self, key: str) -> None:
        await self.page.goto(f"{self.base}/ui")
        await self.page.fill("#login-key", key)
        await self.page.click("#login-form button[type=submit]")
        await expect(self.page.locator("#nav")).to_be_visible()

    async def open(self, view: str) -> None:
        await self.page.click(f"#nav a[data-view={view}]")
        await expect(self.page.locator(f"#view[data-view={view}]")).to_be_visible()

    async def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # Debian's chromium (make setup installs it); Playwright never downloads a browser.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def served(serve: ServeFactory, tmp_path: Path, openai_fake: OpenAIFake) -> Served:
    return await serve(console_config(tmp_path, openai_fake))


@pytest.fixture
async def console(browser: Browser, served: Served) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    made = Console(page, served.http_base_url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            made.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: made.errors.append(f"uncaught: {error}"))
    yield made
    await context.close()
    assert made.errors == [], made.errors


async def generate(console: Console, prompt: str, n: int = 1) -> None:
    page = console.page
    await page.fill("#pg-prompt", prompt)
    await page.fill("#pg-n", str(n))
    await page.click("#pg-run")
    await expect(page.locator("#pg-status")).to_contain_text("image(s)")


# ------------------------------------------------------------------ tests


async def test_each_view_loads_without_console_errors(console: Console) -> None:
    page = console.page
    await page.goto(f"{console.base}/ui")
    await expect(page.locator("#login")).to_be_visible()
    await console.shot("login")
    await console.sign_in(MASTER)
    await expect(page.locator("#pg-model option")).to_have_count(3)
    await console.shot("playground-empty")
    await console.open("spend")
    await expect(page.locator("#sp-totals")).to_be_visible()
    await console.open("keys")
    await expect(page.locator("#key-table")).to_be_visible()
    await console.open("live")
    await expect(page.locator("#live-deployments tbody tr")).to_have_count(3)
    await console.shot("live")
    # The key is in this tab's session storage only: not in local storage, not in the URL.
    stored = await page.evaluate(
        "[sessionStorage.getItem('imagegen.console.key'), localStorage.length]"
    )
    assert stored == [MASTER, 0]
    assert MASTER not in page.url


async def test_playground_generates_with_placeholder_and_shows_its_cost(
    console: Console, tmp_path: Path
) -> None:
    page = console.page
    await console.sign_in(MASTER)
    await page.select_option("#pg-model", "placeholder")
    await page.fill("#pg-size", "256x256")
    await page.fill("#pg-seed", "42")
    await generate(console, f"a lighthouse {HOSTILE}", n=2)

    cards = page.locator(".image-card")
    await expect(cards).to_have_count(2)
    for index in range(2):
        card = cards.nth(index)
        # The call's cost, said to be for both images.
        await expect(card.locator("[data-fact=cost]")).to_have_text("$0.08 for 2 images")
        await expect(card.locator("[data-fact=provider]")).to_have_text("local")
        await expect(card.locator("[data-fact=attempts]")).to_have_text("1")
        await expect(card.locator("[data-fact=latency]")).to_contain_text("ms")
        size = await card.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size == [256, 256]
        href = await card.locator("a.download").get_attribute("href")
        assert href is not None and href.startswith("blob:")
    await expect(page.locator("#pg-status")).to_contain_text("cost $0.08")
    await console.shot("playground-generated")

    # Downloading gives the PNG itself.
    async with page.expect_download() as waiting:
        await cards.nth(0).locator("a.download").click()
    download = await waiting.value
    saved = tmp_path / "download.png"
    await download.save_as(saved)
    head = await asyncio.to_thread(lambda: saved.read_bytes()[:8])
    assert head == b"\x89PNG\r\n\x1a\n"


async def test_markup_in_model_names_and_prompts_is_shown_as_text(console: Console) -> None:
    page = console.page
    await console.sign_in(MASTER)
    await page.select_option("#pg-model", HOSTILE)
    await generate(console, HOSTILE)
    await console.open("live")
    await expect(page.locator("#live-requests")).to_contain_text(HOSTILE)
    await expect(page.locator("#live-deployments")).to_contain_text(HOSTILE)
    await console.open("spend")
    await expect(page.locator("#sp-groups")).to_contain_text(HOSTILE)
    await expect(page.locator(".legend")).to_have_count(2)
    # The text was never parsed as markup: no such element, no handler ran.
    assert await page.locator("img[src=x]").count() == 0
    assert await page.evaluate("window.__xss") is None
    await console.shot("markup-as-text")


async def test_spend_chart_renders_with_budget_bars(console: Console, served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.http_base_url, timeout=30) as api:
        for prompt in ("a red fox", "a blue fox"):
            answer = await api.post(
                "/v1/images/generations",
                json={"model": "placeholder", "prompt": prompt, "size": "64x64"},
                headers={"Authorization": f"Bearer {TEAM_KEY}"},
            )
            assert answer.status_code == 200
    page = console.page
    await console.sign_in(MASTER)
    await console.open("spend")
    await page.select_option("#sp-group", "key")
    await expect(page.locator("#sp-totals")).to_contain_text("$0.08 spent on 2 images")
    spend_chart = page.locator("figure.chart-box").first
    await expect(spend_chart.locator("figcaption")).to_have_text("Spend by key (USD)")
    await expect(spend_chart.locator("rect.bar")).to_have_count(1)
    await expect(spend_chart.locator(".legend li")).to_have_text(["team"])
    height = await spend_chart.locator("rect.bar").get_attribute("height")
    assert height is not None and float(height) > 10
    # team's budget: $0.08 of $1 this month.
    budget = page.locator("svg.budgets")
    await expect(budget).to_contain_text("$0.08 of $1.00 (monthly)")
    await expect(budget.locator("rect.fill.ok")).to_have_count(1)
    await expect(page.locator("#sp-top tbody tr")).to_have_count(2)
    await console.shot("spend")


async def test_a_virtual_key_sees_only_its_own(console: Console, served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.http_base_url, timeout=30) as api:
        answer = await api.post(
            "/v1/images/generations",
            json={"model": "placeholder", "prompt": "master's own", "size": "64x64"},
            headers={"Authorization": f"Bearer {MASTER}"},
        )
        assert answer.status_code == 200
    page = console.page
    await console.sign_in(TEAM_KEY)
    await expect(page.locator("#who")).to_have_text("key team")
    await expect(page.locator("#nav a[data-view=keys]")).to_be_hidden()
    await console.open("spend")
    await expect(page.locator("#sp-totals")).to_contain_text("$0.00 spent on 0 images")
    await console.open("live")
    await expect(page.locator("#live-recent")).to_contain_text("No requests yet.")
    await console.shot("virtual-key-live")


async def test_create_and_revoke_a_key(console: Console, served: Served) -> None:
    page = console.page
    await console.sign_in(MASTER)
    await console.open("keys")
    await page.fill("#key-alias", "design-team")
    await page.fill("#key-models", "placeholder")
    await page.fill("#key-budget", "2.5")
    await page.select_option("#key-period", "1d")
    await page.click("#key-create")
    secret = (await page.locator("#key-secret").inner_text()).strip()
    assert secret.startswith("ig-")
    row = page.locator("#key-table tr", has_text="design-team")
    await expect(row).to_contain_text("$2.50 daily")
    await console.shot("keys-created")

    # The new key works on the API, and shows once: gone when the notice is closed.
    async with httpx.AsyncClient(base_url=served.http_base_url, timeout=30) as api:
        auth = {"Authorization": f"Bearer {secret}"}
        made = await api.post(
            "/v1/images/generations",
            json={"model": "placeholder", "prompt": "hello", "size": "64x64"},
            headers=auth,
        )
        assert made.status_code == 200
        await page.click("#key-created button:has-text('Done')")
        await expect(page.locator("#key-secret")).to_have_count(0)
        assert secret not in await page.content()

        revoke = row.locator("button.danger")
        await revoke.click()
        await expect(revoke).to_have_text("Confirm revoke")
        await revoke.click()
        await expect(page.locator("#key-table tr", has_text="design-team")).to_have_count(0)
        refused = await api.post(
            "/v1/images/generations",
            json={"model": "placeholder", "prompt": "hello", "size": "64x64"},
            headers=auth,
        )
        assert refused.status_code == 401
    await console.shot("keys-revoked")


def png(width: int, height: int) -> bytes:
    """A plain grey PNG, made here (no image library needed on the browser's side)."""
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(raw)),
            chunk(b"IEND", b""),
        )
    )


async def test_edit_tab_inpaints_with_a_painted_mask(console: Console, tmp_path: Path) -> None:
    page = console.page
    await console.sign_in(MASTER)
    await page.select_option("#pg-model", "placeholder")
    await page.click("#pg-tab-edit")
    await page.select_option("#pg-operation", "inpaint")
    source = tmp_path / "input.png"
    source.write_bytes(png(128, 128))
    await page.set_input_files("#pg-images", str(source))
    canvas = page.locator("#pg-mask-canvas")
    await expect(canvas).to_be_visible()
    box = await canvas.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, steps=8)
    await page.mouse.up()
    painted = await canvas.evaluate(
        "c => c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data[3]"
    )
    assert painted == 255
    await page.fill("#pg-size", "")
    await page.fill("#pg-prompt", "a red door")
    await page.click("#pg-run")
    await expect(page.locator("#pg-status")).to_contain_text("1 image(s)")
    card = page.locator(".image-card")
    await expect(card.locator("[data-fact=cost]")).to_have_text("$0.04")
    size = await card.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [128, 128]
    await console.shot("playground-edit")


async def test_partial_previews_show_before_the_finished_image(console: Console) -> None:
    page = console.page
    await console.sign_in(MASTER)
    await page.select_option("#pg-model", "gpt-image-1")
    await expect(page.locator("#pg-quality option")).to_contain_text(["default", "low"])
    await page.select_option("#pg-size", "1024x1024")
    await page.select_option("#pg-quality", "low")
    # Every text the image's badge shows, in order, as the stream's events arrive.
    await page.evaluate(
        """() => {
        window.__badges = [];
        new MutationObserver((records) => {
            for (const record of records) {
                if (!record.target.matches || !record.target.matches('.badge')) continue;
                for (const node of record.addedNodes) window.__badges.push(node.textContent);
            }
        }).observe(document.getElementById('pg-results'), {subtree: true, childList: true});
    }"""
    )
    await generate(console, "a harbour at night")
    assert await page.evaluate("window.__badges") == ["preview 1", "preview 2", "image 1"]
    card = page.locator(".image-card")
    await expect(card.locator("[data-fact=provider]")).to_have_text("openai")
    await expect(card.locator("[data-fact=cost]")).not_to_have_text("unknown")
    await console.shot("playground-partials")

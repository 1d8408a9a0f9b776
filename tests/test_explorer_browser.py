"""The static attention viewer in a real browser: headless Chromium, offline, via Playwright.

Needs Debian's ``chromium`` (``/usr/bin/chromium``, or the path in ``LSTMATTN_CHROMIUM``)
and the ``playwright`` Python package (the ``test`` extra); Playwright's own browser
download is not used. Skipped only when the Chromium binary (or playwright) is absent,
and failed instead under ``LSTMATTN_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import torch

from conftest import tiny_model_config
from lstmattn.model.one_shot import OneShotLSTMAttention
from lstmattn.viz.attention import gallery
from lstmattn.viz.static_viewer import static_viewer_html

pytestmark = pytest.mark.usefixtures("chromium")  # skipped without it (failed under LSTMATTN_REQUIRE_BROWSER=1)


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> tuple[Path, dict]:
    """A viewer page of three slices (a real COVIDx-CT PNG and two toy tensors), both orders."""
    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config(roi_order="confidence")).eval()  # distance is the what-if
    slices = [sample_data / "covidx-ct-sample" / "images" / "COVIDCTMD-P001-IM0027.png"]
    for seed, label in ((11, 0), (12, 2)):
        image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(seed))
        slices.append((image, {"image_label": torch.tensor(label), "file": f"toy/slice{seed}.png"}))
    page = static_viewer_html(gallery(model, slices), display_size=192)
    data = json.loads(re.search(r'<script type="application/json" data-role="data">(.*?)</script>', page, re.S).group(1))
    path = tmp_path_factory.mktemp("viewer") / "attention.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>viewer</title></head><body>{page}</body></html>")
    return path, data


@pytest.fixture(scope="module")
def browser(chromium: Path, playwright_api: ModuleType):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


def _alphas(page) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all("svg[data-role=bars] rect.lsa-bar", "bars => bars.map(b => b.getAttribute('data-alpha'))")]


def test_viewer_switches_slice_branch_and_order_offline(browser, viewer, tmp_path: Path):
    path, data = viewer
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())

    image = page.locator("img[data-role=image]")
    bars = page.locator("svg[data-role=bars]")
    boxes = page.locator("svg[data-role=boxes]")
    slices = data["slices"]
    assert image.get_attribute("src") == slices[0]["image"]
    assert page.locator("select[data-role=slice] option").count() == len(slices)
    assert _alphas(page) == pytest.approx(slices[0]["orders"]["confidence"]["alpha"]["positive"])
    assert boxes.locator("rect").count() >= 1
    state = (image.get_attribute("src"), bars.inner_html(), boxes.inner_html())

    page.select_option("select[data-role=slice]", "2")
    assert image.get_attribute("src") == slices[2]["image"] != state[0]
    assert bars.inner_html() != state[1]
    assert page.locator(".lsa-thumbs img.lsa-current").get_attribute("data-index") == "2"
    assert "COVID-19" in page.locator("[data-role=probs]").inner_text()
    before = (bars.inner_html(), boxes.inner_html())

    page.click("button[data-branch=negative]")
    assert page.get_attribute("button[data-branch=negative]", "aria-pressed") == "true"
    assert bars.inner_html() != before[0] and boxes.inner_html() != before[1]
    assert _alphas(page) == pytest.approx(slices[2]["orders"]["confidence"]["alpha"]["negative"])
    before = bars.inner_html()

    page.click("button[data-order=distance]")
    assert bars.inner_html() != before and "what-if" in page.locator("[data-role=note]").inner_text()
    assert _alphas(page) == pytest.approx(slices[2]["orders"]["distance"]["alpha"]["negative"])
    assert page.locator("[data-role=features] img").count() >= 1

    page.hover("svg[data-role=bars] rect.lsa-bar >> nth=0")  # hover highlights the bar's box
    assert "stroke-dasharray" in boxes.inner_html()

    page.click(".lsa-thumbs img >> nth=0")
    assert page.input_value("select[data-role=slice]") == "0" and image.get_attribute("src") == slices[0]["image"]

    page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    assert errors == [], f"console errors: {errors}"
    assert all(url.startswith(("file:", "data:")) for url in requests), f"network requests: {requests}"
    page.close()

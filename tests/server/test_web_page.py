"""The web page at `/`, driven in headless Chromium: per-stage settings in, a live preview where the image
then lands, queue position and ETA, cancel, a gallery of recent images, a phone-width layout.

Set WEB_PAGE_SCREENSHOTS=docs to write docs/web_page_generating.png and docs/web_page_gallery.png:
    WEB_PAGE_SCREENSHOTS=docs .venv/bin/python -m pytest -q tests/server/test_web_page.py -k screenshot
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from cascade.engine import EngineConfig
from server.auth import KeyStore
from server.config import ServerConfig

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 60
SCREENSHOTS = os.environ.get("WEB_PAGE_SCREENSHOTS")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or CHROMEDRIVER is None,
    reason="the web page test needs Debian's chromium and chromedriver (apt-get install chromium "
    "chromium-driver); not installed here",
)


@pytest.fixture()
def hold(serve, served_cascade, monkeypatch):
    """`hold(stage, after)`: stage `stage`'s U-Net step blocks once `after` steps are done, until the
    returned `release()` (also called at teardown, before the server drains)."""
    gates: list[threading.Event] = []

    def at(stage_index: int, after: int):
        stage = served_cascade.stages[stage_index]
        real_step, gate, calls = stage.step, threading.Event(), []

        def step(jobs):
            calls.append(len(jobs))
            if len(calls) == after + 1:
                gate.wait(WAIT_S)
            return real_step(jobs)

        monkeypatch.setattr(stage, "step", step)
        gates.append(gate)
        return gate.set

    yield at
    for gate in gates:
        gate.set()


def by(css: str):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, css


def wait(browser, condition, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S).until(lambda _: condition(), message=what)


def fill(browser, prompt: str, *, size: str | None = None, steps=None, n: int = 1, seed: int | None = None):
    from selenium.webdriver.support.ui import Select

    browser.find_element(*by("#prompt")).clear()
    browser.find_element(*by("#prompt")).send_keys(prompt)
    if size is not None:
        Select(browser.find_element(*by("#size"))).select_by_visible_text(size)
    for i, value in enumerate(steps or []):
        box = browser.find_element(*by(f"#steps-{i}"))
        box.clear()
        box.send_keys(str(value))
    count = browser.find_element(*by("#n"))
    count.clear()
    count.send_keys(str(n))
    if seed is not None:
        browser.find_element(*by("#random-seed")).click()
        browser.find_element(*by("#seed")).send_keys(str(seed))


def tile_state(browser, index: int) -> str | None:
    tiles = browser.find_elements(*by(f'.tile[data-index="{index}"]'))
    return tiles[0].get_attribute("data-state") if tiles else None


def gallery_size(browser) -> int:
    return len(browser.find_elements(*by("#gallery .gallery-item")))


def no_page_errors(browser) -> bool:
    return not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # CSP, script errors


def screenshot(browser, name: str) -> None:
    """The whole page, 1280 px wide, into $WEB_PAGE_SCREENSHOTS when it is set."""
    if not SCREENSHOTS:
        return
    height = browser.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.save_screenshot(str(Path(SCREENSHOTS) / name))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_form_has_per_stage_settings_and_defaults_to_the_base_size(serve, browser):
    from selenium.webdriver.support.ui import Select

    server = serve()
    browser.get(server.url)
    for control in ("#prompt", "#negative", "#size", "#n", "#seed", "#random-seed", "#generate", "#cancel"):
        assert browser.find_elements(*by(control)), control
    size = Select(browser.find_element(*by("#size")))
    assert [o.text for o in size.options] == ["16x16", "32x32", "64x64"]
    assert size.first_selected_option.text == "16x16"  # one stage: seconds on a CPU, not minutes
    assert browser.find_element(*by("#random-seed")).is_selected()
    assert not browser.find_element(*by("#seed")).is_enabled()

    def enabled_rows() -> list[bool]:
        return [box.is_enabled() for box in browser.find_elements(*by(".stage-row .steps"))]

    assert enabled_rows() == [True, False, False]  # a 16 px image runs stage I only
    size.select_by_visible_text("64x64")
    assert enabled_rows() == [True, True, True]
    assert len(browser.find_elements(*by(".stage-row .guidance"))) == 3
    assert no_page_errors(browser)


def test_the_stage_boxes_are_prefilled_with_the_defaults_the_server_passes(serve, browser, served_cascade):
    """`settings["stages"]`: routes.index passes `page.stage_settings` of the served stages."""
    specs = [stage.spec for stage in served_cascade.stages]
    server = serve()
    browser.get(server.url)
    steps = [box.get_attribute("value") for box in browser.find_elements(*by(".stage-row .steps"))]
    guidance = [box.get_attribute("value") for box in browser.find_elements(*by(".stage-row .guidance"))]
    assert steps == [str(spec.steps) for spec in specs]
    assert [float(g) for g in guidance] == [spec.guidance for spec in specs]


def test_a_live_preview_shows_in_place_with_queue_position_and_eta_then_the_image_lands_there(
    serve, browser, hold
):
    server = serve(ServerConfig(engine=EngineConfig(preview_every=2, max_batch_size=1)))
    release = hold(0, after=2)  # stage I pauses after its 2nd step: mid-generation, deterministically
    browser.get(server.url)
    fill(browser, "a red star above a blue ring", size="64x64", steps=[4, 2, 2], n=2, seed=3)
    browser.find_element(*by("#generate")).click()

    view = browser.find_element(*by('.tile[data-index="0"] img.view'))
    wait(browser, lambda: view.get_attribute("data-step") == "2", "a preview of step 2")
    assert view.get_attribute("data-kind") == "preview" and view.get_attribute("data-steps") == "4"
    assert browser.execute_script("return arguments[0].naturalWidth", view) == 16
    assert (
        tile_state(browser, 0) == "running"
        and "step 2 of 4" in browser.find_element(*by(".tile-status")).text
    )
    assert "left" in browser.find_element(*by('.tile[data-index="0"] .eta')).text  # from the step seen
    second = browser.find_element(*by('.tile[data-index="1"] .tile-status')).text
    assert tile_state(browser, 1) == "queued" and second == "Queued: position 2"  # batch of 1: it waits
    screenshot(browser, "web_page_generating.png")

    release()
    wait(browser, lambda: tile_state(browser, 1) == "done", "both images")
    assert view.get_attribute("data-kind") == "final" and view.get_attribute("data-seed") == "3"  # same <img>
    assert browser.execute_script("return arguments[0].naturalWidth", view) == 64
    assert len(browser.find_elements(*by("#live img"))) == 2  # one per image: no copies below
    bars = browser.find_elements(*by('.tile[data-index="0"] progress'))
    assert [(b.get_attribute("value"), b.get_attribute("max")) for b in bars] == [
        ("4", "4"),
        ("2", "2"),
        ("2", "2"),
    ]
    assert int(browser.find_element(*by('.tile[data-index="0"]')).get_attribute("data-previews")) == 1 + 3
    assert browser.find_element(*by('.tile[data-index="1"] .tile-status')).text == "seed 4"
    download = browser.find_element(*by('.tile[data-index="0"] a.download'))
    assert download.get_attribute("download") == "cascade-3.png"
    assert no_page_errors(browser)


def test_escape_cancels_a_generation(serve, browser, hold):
    from selenium.webdriver.common.keys import Keys

    server = serve()
    hold(0, after=1)
    browser.get(server.url)
    fill(browser, "a red star", steps=[3])
    browser.find_element(*by("#generate")).click()
    wait(browser, lambda: tile_state(browser, 0) == "running", "the first step")
    browser.find_element(*by("#prompt")).send_keys(Keys.ESCAPE)
    wait(browser, lambda: tile_state(browser, 0) == "cancelled", "the cancel")
    assert browser.find_element(*by("#status")).text == "Cancelled."
    assert browser.find_element(*by("#generate")).is_enabled() and gallery_size(browser) == 0


def test_three_images_fill_the_gallery_and_rerun_with_a_seed_makes_the_same_image(serve, browser):
    from selenium.webdriver.common.keys import Keys

    server = serve()
    browser.get(server.url)
    assert not browser.find_element(*by("#gallery-section")).is_displayed()
    prompts = ["a red star above a blue ring", "a green square", "a blue ring"]
    for count, prompt in enumerate(prompts, 1):
        fill(browser, prompt, steps=[2])
        browser.find_element(*by("#prompt")).send_keys(Keys.CONTROL, Keys.ENTER)  # keyboard submit
        wait(browser, lambda count=count: gallery_size(browser) == count, f"gallery of {count}")
    items = browser.find_elements(*by("#gallery .gallery-item"))
    assert [item.find_element(*by(".prompt")).text for item in items] == prompts[::-1]  # newest first
    oldest = items[-1]
    seed = oldest.get_attribute("data-seed")
    assert f"seed {seed}" in oldest.find_element(*by(".meta")).text
    links = [item.find_element(*by("a.download")) for item in items]
    assert all(a.get_attribute("href").startswith("data:image/png;base64,") for a in links)
    assert links[-1].get_attribute("download") == f"cascade-{seed}.png"
    screenshot(browser, "web_page_gallery.png")

    image = oldest.find_element(*by("img")).get_attribute("src")
    oldest.find_element(*by("button.rerun")).click()
    assert browser.find_element(*by("#seed")).get_attribute("value") == seed
    assert not browser.find_element(*by("#random-seed")).is_selected()
    assert browser.find_element(*by("#prompt")).get_attribute("value") == prompts[0]
    wait(browser, lambda: gallery_size(browser) == 4, "the re-run")
    newest = browser.find_element(*by("#gallery .gallery-item"))
    assert (
        newest.get_attribute("data-seed") == seed
        and newest.find_element(*by("img")).get_attribute("src") == image
    )

    browser.refresh()  # kept in this browser
    assert gallery_size(browser) == 4
    assert no_page_errors(browser)


def test_the_page_fits_a_phone_width_without_horizontal_scrolling(serve, browser):
    from selenium.webdriver.common.keys import Keys

    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True},
    )
    server = serve()
    browser.get(server.url)
    fill(browser, "a-very-long-prompt-without-any-spaces-" * 4, size="32x32", steps=[1, 1], n=2)
    browser.find_element(*by("#prompt")).send_keys(Keys.CONTROL, Keys.ENTER)
    wait(browser, lambda: gallery_size(browser) == 2, "two images")
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert width == 360
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    for box in browser.find_elements(*by("textarea, input, select, button, .tile, .gallery-item")):
        if box.is_displayed():
            assert box.rect["x"] >= 0 and box.rect["x"] + box.rect["width"] <= width, box.get_attribute(
                "outerHTML"
            )[:80]


def test_the_page_shows_the_servers_error_message(serve, browser):
    server = serve(ServerConfig(api_keys=KeyStore.from_entries(["right"])))
    browser.get(server.url)
    fill(browser, "a red star", seed=3)
    browser.find_element(*by("#key")).send_keys("wrong")
    browser.find_element(*by("#generate")).click()
    status = browser.find_element(*by("#status"))
    wait(browser, lambda: "incorrect API key" in status.text, "the refusal")
    assert "error" in status.get_attribute("class")
    assert not browser.find_elements(*by(".tile"))  # nothing was accepted: no empty tiles left behind

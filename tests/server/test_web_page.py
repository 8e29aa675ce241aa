"""The web page at `/`, driven in headless Chromium: prompt in, live previews, final image out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.auth import KeyStore
from server.config import ServerConfig

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 60

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or CHROMEDRIVER is None,
    reason="the web page test needs Debian's chromium and chromedriver (apt-get install chromium "
    "chromium-driver); not installed here",
)


@pytest.fixture()
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def generate_on_page(browser, url: str, prompt: str, key: str | None = None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(url)
    browser.find_element(By.ID, "prompt").send_keys(prompt)
    browser.find_element(By.ID, "seed").send_keys("3")
    browser.find_element(By.ID, "steps").send_keys("2")
    Select(browser.find_element(By.ID, "size")).select_by_visible_text("64x64")
    if key is not None:
        browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "generate").click()


def test_page_shows_each_stage_preview_then_the_final_image(serve, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve()
    generate_on_page(browser, server.url, "a red star above a blue ring")
    result = WebDriverWait(browser, WAIT_S).until(ready.presence_of_element_located((By.ID, "result")))
    WebDriverWait(browser, WAIT_S).until(
        lambda _: browser.execute_script("return arguments[0].complete", result)
    )
    assert browser.execute_script("return arguments[0].naturalWidth", result) == 64
    previews = browser.find_elements(By.CSS_SELECTOR, "img.preview")
    assert [p.get_attribute("alt") for p in previews] == [
        "stage 16px (16px)",
        "stage 32px (32px)",
        "stage 64px (64px)",
    ]
    assert [bar.get_attribute("value") for bar in browser.find_elements(By.TAG_NAME, "progress")] == ["2"] * 3
    assert "seed 3" in browser.find_element(By.ID, "final").text
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # no CSP or script errors


def test_page_shows_the_servers_error_message(serve, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(ServerConfig(api_keys=KeyStore.from_entries(["right"])))
    generate_on_page(browser, server.url, "a red star", key="wrong")
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, WAIT_S).until(lambda _: "incorrect API key" in status.text)
    assert "error" in status.get_attribute("class")

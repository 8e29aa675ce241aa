"""The web page's picture input, in headless Chromium: a picture dropped on the drop zone (or chosen) turns
Generate into an edit (with a mask, inpainting) and enables Upscale; the images land in their tiles."""

from __future__ import annotations

import base64
import io

import numpy as np
import PIL.Image

from tests.server.test_web_page import (  # noqa: F401 - `pytestmark`: the same skip without Chromium
    by,
    fill,
    no_page_errors,
    pytestmark,
    tile_state,
    wait,
)

RED = (200, 30, 30)
DROP = """
const [name, b64] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const files = new DataTransfer();
files.items.add(new File([bytes], name, { type: "image/png" }));
document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: files, bubbles: true }));
"""


def png_b64(image: PIL.Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def final_pixels(browser, index: int = 0) -> np.ndarray:
    view = browser.find_element(*by(f'.tile[data-index="{index}"] img.view'))
    data = view.get_attribute("src").split(",", 1)[1]
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype=int)


def test_a_dropped_picture_is_edited_with_its_mask_and_upscaled(serve, browser, tmp_path):
    server = serve()
    browser.get(server.url)
    assert not browser.find_element(*by("#upscale")).is_enabled()  # nothing to upscale yet
    browser.execute_script(DROP, "in.png", png_b64(PIL.Image.new("RGB", (16, 16), RED)))
    wait(browser, lambda: browser.find_element(*by("#upscale")).is_enabled(), "the drop enables Upscale")
    preview = browser.find_element(*by("#picture-view"))
    wait(browser, lambda: browser.execute_script("return arguments[0].naturalWidth", preview) == 16)

    mask = PIL.Image.new("L", (16, 16), 0)
    mask.paste(255, (8, 0, 16, 16))
    mask.save(tmp_path / "mask.png")
    browser.find_element(*by("#mask-file")).send_keys(str(tmp_path / "mask.png"))
    fill(browser, "a blue ring", size="16x16", seed=4)
    browser.find_element(*by("#generate")).click()
    wait(browser, lambda: tile_state(browser, 0) == "done", "the inpainted image")
    painted = final_pixels(browser)
    assert painted.shape == (16, 16, 3)
    assert np.abs(painted[:, :8] - np.array(RED)).max() <= 1  # kept outside the mask
    assert np.abs(painted[:, 8:] - np.array(RED)).mean() > 5  # repainted inside

    browser.find_element(*by("#upscale")).click()

    def upscaled() -> bool:
        return tile_state(browser, 0) == "done" and final_pixels(browser).shape[0] == 32

    wait(browser, upscaled, "the upscaled image")
    assert final_pixels(browser).shape == (32, 32, 3)  # one stage up from the 16 px picture
    assert len(browser.find_elements(*by("#gallery .gallery-item"))) == 2

    browser.find_element(*by("#clear-picture")).click()
    assert not browser.find_element(*by("#upscale")).is_enabled()
    assert no_page_errors(browser)


def test_a_bad_picture_shows_the_servers_message(serve, browser, tmp_path):
    server = serve()
    browser.get(server.url)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    browser.find_element(*by("#image-file")).send_keys(str(tmp_path / "junk.png"))
    fill(browser, "a blue ring")
    browser.find_element(*by("#generate")).click()
    status = browser.find_element(*by("#status"))
    wait(browser, lambda: "image: cannot read" in status.text, "the 400's message")
    assert "error" in status.get_attribute("class")

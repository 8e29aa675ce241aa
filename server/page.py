"""The web page at `/`: one static HTML file with its settings filled in, and headers that lock it down.

The page loads nothing from elsewhere; its Content-Security-Policy allows exactly its own inline script
(by hash), data: images and requests to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

from cascade.stages import StageSpec


@cache
def _template() -> tuple[str, str]:
    page = resources.files("server").joinpath("static/index.html").read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)
    assert script, "server/static/index.html has no inline <script>"
    digest = hashlib.sha256(script.group(1).encode("utf-8")).digest()
    return page, "sha256-" + base64.b64encode(digest).decode("ascii")


def stage_settings(specs: Sequence[StageSpec]) -> list[dict]:
    """What the page shows per stage, prefilled with the stage's defaults: `settings["stages"]`."""
    return [
        {"name": s.name, "resolution": s.resolution, "steps": s.steps, "guidance": s.guidance} for s in specs
    ]


def page_settings(settings: dict) -> dict:
    """`settings` with what the page needs and its caller may leave out, worked out from the rest.

    `stages` (per-stage defaults, `stage_settings`) default to one row per size with the defaults left to
    the model; `defaultSize` to the smallest size, the base stage alone, which is what a CPU server can
    make in seconds rather than minutes.
    """
    sizes = settings.get("sizes", [])
    stages = settings.get("stages") or [
        {
            "name": size.split("x")[0] + "px",
            "resolution": int(size.split("x")[0]),
            "steps": None,
            "guidance": None,
        }
        for size in sizes
    ]
    default_size = settings.get("defaultSize") or (sizes[0] if sizes else None)
    return {**settings, "stages": stages, "defaultSize": default_size}


def render(settings: dict) -> tuple[str, dict[str, str]]:
    """The page with `settings` (sizes, whether a key is needed, limits) embedded, and its headers."""
    page, script_hash = _template()
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src '{script_hash}'; style-src 'unsafe-inline'; "
            "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    embedded = json.dumps(page_settings(settings)).replace("</", "<\\/")  # cannot close its <script>
    return page.replace("__SETTINGS__", embedded), headers

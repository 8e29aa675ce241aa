"""The web page at `/`: one static HTML file with its settings filled in, and headers that lock it down.

The page loads nothing from elsewhere; its Content-Security-Policy allows exactly its own inline script
(by hash), data: images and requests to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from importlib import resources


@cache
def _template() -> tuple[str, str]:
    page = resources.files("server").joinpath("static/index.html").read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)
    assert script, "server/static/index.html has no inline <script>"
    digest = hashlib.sha256(script.group(1).encode("utf-8")).digest()
    return page, "sha256-" + base64.b64encode(digest).decode("ascii")


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
    embedded = json.dumps(settings).replace("</", "<\\/")  # cannot close the <script> it sits in
    return page.replace("__SETTINGS__", embedded), headers

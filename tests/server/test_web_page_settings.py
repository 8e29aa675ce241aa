"""What `server/page.py` embeds in the page, and the headers that keep it to itself (no browser)."""

from __future__ import annotations

import json
import re

from server import page


def embedded(html: str) -> dict:
    return json.loads(
        re.search(r'<script id="settings" type="application/json">(.*?)</script>', html).group(1)
    )


def test_without_stage_defaults_the_page_gets_one_row_per_size_left_to_the_model():
    settings = page.page_settings({"sizes": ["64x64", "256x256"], "keyRequired": False, "maxPromptChars": 9})
    assert settings["stages"] == [
        {"name": "64px", "resolution": 64, "steps": None, "guidance": None},
        {"name": "256px", "resolution": 256, "steps": None, "guidance": None},
    ]
    assert settings["defaultSize"] == "64x64"  # the base stage alone, not the largest
    assert settings["maxPromptChars"] == 9


def test_stage_defaults_and_a_default_size_the_server_passes_are_kept(served_cascade):
    specs = [stage.spec for stage in served_cascade.stages]
    stages = page.stage_settings(specs)
    assert stages == [
        {"name": s.name, "resolution": s.resolution, "steps": s.steps, "guidance": s.guidance} for s in specs
    ]
    settings = page.page_settings(
        {"sizes": ["16x16", "32x32", "64x64"], "stages": stages, "defaultSize": "64x64"}
    )
    assert settings["stages"] == stages and settings["defaultSize"] == "64x64"


def test_the_page_loads_nothing_from_elsewhere_and_its_policy_allows_only_its_own_script():
    html, headers = page.render({"sizes": ["16x16"], "keyRequired": False, "maxPromptChars": 10})
    assert embedded(html)["defaultSize"] == "16x16"
    policy = headers["Content-Security-Policy"]
    _, script_hash = page._template()
    assert f"script-src '{script_hash}'" in policy and "default-src 'none'" in policy
    assert "img-src data:;" in policy and "connect-src 'self'" in policy
    assert all(url.startswith("data:") for url in re.findall(r'(?:src|href)="([^"]*)"', html))
    assert "http://" not in html and "https://" not in html


def test_settings_cannot_close_the_script_they_sit_in():
    html, _ = page.render({"sizes": [], "keyRequired": False, "maxPromptChars": 1, "note": "</script><b>"})
    assert embedded(html)["note"] == "</script><b>"
    assert "</script><b>" not in html
